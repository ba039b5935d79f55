package normalize

import "testing"

var benchRecords = []Record{
	{ID: "1", Name: " 齋藤  一郎 様", NameKana: "ｻｲﾄｳ ｲﾁﾛｳ", Email: "Ｔａｒｏ＠Ｅｘａｍｐｌｅ．ｃｏ．ｊｐ", Phone: "０９０－１２３４－５６７８", Company: "ﾄﾖｸﾓ(株)", PostalCode: "〒100-0005", Address: "東京都千代田区丸の内一丁目2番3号 丸の内ビル5F"},
	{ID: "2", Name: "山田太郎", NameKana: "やまだ たろう", Email: "taro.yamada@example.com", Phone: "03-1234-5678", Company: "株式会社トヨクモ", PostalCode: "1000005", Address: "千代田区丸の内1-2-3"},
	{ID: "3", Name: "渡邊　健さん", NameKana: "ワタナベ　ケン", Email: "", Phone: "+81 6 6123 4567", Company: "Toyokumo Co., Ltd.", PostalCode: "530-0001", Address: "大阪府大阪市北区梅田二丁目四番九号"},
}

// BenchmarkNormalizeRecord measures one full record (all eight fields).
func BenchmarkNormalizeRecord(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		NormalizeRecord(benchRecords[i%len(benchRecords)], Options{})
	}
}

func BenchmarkNormalizePhone(b *testing.B) {
	in := []string{"03-1234-5678", "090-1234-5678", "+81 3 1234 5678", "０６（６１２３）４５６７"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		NormalizePhone(in[i%len(in)], "")
	}
}

func BenchmarkNormalizeAddress(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		NormalizeAddress(benchRecords[i%len(benchRecords)].Address)
	}
}
