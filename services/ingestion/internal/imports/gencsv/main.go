// Command gencsv writes a synthetic Japanese CRM export for benchmarking
// `kizuna import`: customers.csv (user_id, email, phone, name, name_kana,
// postal_code, address and a rank trait) and orders.csv (user_id,
// order_id, timestamp, revenue, currency, category) with -orders orders
// spread over the customers. -sjis writes customers.csv in Shift_JIS, as
// Japanese Excel does.
//
//	go run ./internal/imports/gencsv -customers 100000 -orders 500000 -out /tmp/bench
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"
)

var (
	family = []string{"佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"}
	kanaF  = []string{"サトウ", "スズキ", "タカハシ", "タナカ", "イトウ", "ワタナベ", "ヤマモト", "ナカムラ", "コバヤシ", "カトウ"}
	given  = []string{"太郎", "花子", "一郎", "美咲", "健太", "陽菜", "翔", "さくら", "大輔", "結衣"}
	kanaG  = []string{"タロウ", "ハナコ", "イチロウ", "ミサキ", "ケンタ", "ヒナ", "ショウ", "サクラ", "ダイスケ", "ユイ"}
	cities = []string{"東京都千代田区丸の内", "大阪府大阪市北区梅田", "愛知県名古屋市中区栄", "福岡県福岡市中央区天神", "北海道札幌市中央区北一条西"}
	cats   = []string{"food", "books", "apparel", "home", "beauty"}
	ranks  = []string{"一般", "シルバー", "ゴールド"}
)

func main() {
	customers := flag.Int("customers", 100000, "customer rows")
	orders := flag.Int("orders", 500000, "order rows")
	out := flag.String("out", ".", "output directory")
	sjis := flag.Bool("sjis", false, "write customers.csv in Shift_JIS")
	flag.Parse()
	r := rand.New(rand.NewPCG(1, 2))
	if err := write(filepath.Join(*out, "customers.csv"), *sjis, func(w io.Writer) {
		fmt.Fprintln(w, "user_id,email,phone,name,name_kana,postal_code,address,rank")
		for i := range *customers {
			f, g := r.IntN(len(family)), r.IntN(len(given))
			fmt.Fprintf(w, "C%07d,user%07d@example.jp,090-%04d-%04d,%s %s,%s %s,100-%04d,%s%d-%d,%s\n", i, i, i/10000, i%10000,
				family[f], given[g], kanaF[f], kanaG[g], r.IntN(10000), cities[r.IntN(len(cities))], r.IntN(9)+1, r.IntN(30)+1, ranks[r.IntN(len(ranks))])
		}
	}); err != nil {
		log.Fatal(err)
	}
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := write(filepath.Join(*out, "orders.csv"), false, func(w io.Writer) {
		fmt.Fprintln(w, "user_id,order_id,timestamp,revenue,currency,category")
		for i := range *orders {
			at := start.Add(time.Duration(r.Int64N(int64(700 * 24 * time.Hour))))
			fmt.Fprintf(w, "C%07d,O%08d,%s,%d,JPY,%s\n", r.IntN(*customers), i, at.Format("2006/01/02 15:04:05"), 500+r.IntN(20000), cats[r.IntN(len(cats))])
		}
	}); err != nil {
		log.Fatal(err)
	}
}

func write(path string, sjis bool, fill func(io.Writer)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	var w io.Writer = f
	var tw *transform.Writer
	if sjis {
		tw = transform.NewWriter(f, japanese.ShiftJIS.NewEncoder())
		w = tw
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	fill(bw)
	if err := bw.Flush(); err != nil {
		return err
	}
	if tw != nil {
		if err := tw.Close(); err != nil {
			return err
		}
	}
	return f.Close()
}
