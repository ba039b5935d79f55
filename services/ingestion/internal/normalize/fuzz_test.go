package normalize

import (
	"testing"
	"unicode/utf8"
)

// The fuzz targets check that no input panics and that normalising a
// normalised value changes nothing (idempotence), which is what makes it
// safe to re-run cleansing over already-cleansed data. Run one with e.g.
//
//	go test -fuzz=FuzzNormalizeAddress ./internal/normalize/

func FuzzText(f *testing.F) {
	for _, s := range []string{"", "ＡＢＣ", "ﾔﾏﾀﾞ\u3000ﾀﾛｳ", "㈱", " a  b "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		once := Text(s)
		if twice := Text(once); twice != once {
			t.Errorf("Text not idempotent: %q → %q → %q", s, once, twice)
		}
	})
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"Taro@Example.com", "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "user@例え.jp", "bad@", "a+b@gmail.com"} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, gmail bool) {
		opt := EmailOptions{ProviderRules: gmail}
		e := NormalizeEmail(s, opt)
		if !e.Valid {
			return
		}
		if !utf8.ValidString(e.Value) || !isPlainASCII(e.Value) {
			t.Errorf("valid e-mail %q is not ASCII", e.Value)
		}
		if again := NormalizeEmail(e.Value, opt); again.Value != e.Value || !again.Valid {
			t.Errorf("not idempotent: %q → %q → %+v", s, e.Value, again)
		}
	})
}

func FuzzNormalizePhone(f *testing.F) {
	for _, s := range []string{"03-1234-5678", "０９０－１２３４－５６７８", "+81 3 1234 5678", "010-1-650-253-0000", "12", "03-1234-5678 内線1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := NormalizePhone(s, "")
		if p.E164 == "" {
			return
		}
		if again := NormalizePhone(p.E164, ""); again.E164 != p.E164 || again.Type != p.Type {
			t.Errorf("not idempotent: %q → %+v → %+v", s, p, again)
		}
	})
}

func FuzzNormalizePostal(f *testing.F) {
	for _, s := range []string{"〒100-0005", "１０００００５", "100", "100-00051"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := NormalizePostal(s)
		if p.Value == "" {
			return
		}
		if len(p.Value) != 8 || p.Value[3] != '-' {
			t.Errorf("bad shape %q from %q", p.Value, s)
		}
		if again := NormalizePostal(p.Value); again.Value != p.Value {
			t.Errorf("not idempotent: %q → %q → %q", s, p.Value, again.Value)
		}
	})
}

func FuzzNormalizeKana(f *testing.F) {
	for _, s := range []string{"やまだ たろう", "ﾔﾏﾀﾞﾀﾛｳ", "ヤマダ・タロウ", "山田"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k := NormalizeKana(s)
		again := NormalizeKana(k.Value)
		if again.Value != k.Value || again.Key != k.Key {
			t.Errorf("not idempotent: %q → %+v → %+v", s, k, again)
		}
	})
}

func FuzzNormalizeName(f *testing.F) {
	for _, s := range []string{"齋藤 一郎 様", "渡邊　健さん", "John Smith", "様"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeName(s)
		if again := NormalizeName(n.Value); again != n {
			t.Errorf("not idempotent: %q → %+v → %+v", s, n, again)
		}
	})
}

func FuzzNormalizeCompany(f *testing.F) {
	for _, s := range []string{"株式会社トヨクモ", "トヨクモ㈱", "ﾄﾖｸﾓ(株)", "Toyokumo Co., Ltd.", "ｶ)ﾄﾖｸﾓ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c := NormalizeCompany(s)
		if again := NormalizeCompany(c.Value); again != c {
			t.Errorf("not idempotent: %q → %+v → %+v", s, c, again)
		}
	})
}

func FuzzNormalizeAddress(f *testing.F) {
	for _, s := range []string{"東京都千代田区丸の内一丁目2番3号 丸の内ビル5F", "三鷹市下連雀三丁目十五番地の三", "霞ヶ関1ー2", "千代田区三番町5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a := NormalizeAddress(s)
		again := NormalizeAddress(a.Value)
		if again.Key != a.Key || again.Prefecture != a.Prefecture {
			t.Errorf("not idempotent: %q → %+v → %+v", s, a, again)
		}
	})
}
