package normalize

import (
	"strings"
	"unicode"
)

// Company is a normalised company (organisation) name.
type Company struct {
	// Value is the name for display: NFKC, single spaces, legal form kept
	// as written.
	Value string
	// Key ignores the legal form, its position and spelling, width, case,
	// spacing, punctuation and variant kanji: 株式会社トヨクモ, トヨクモ㈱
	// and ﾄﾖｸﾓ(株) all have the key トヨクモ.
	Key string
	// LegalForm is the canonical legal form found (株式会社, 有限会社,
	// Inc., Co., Ltd. …), or "".
	LegalForm string
	// LegalFormPosition tells whether the form came before the name
	// (前株, "prefix") or after it (後株, "suffix"). Japanese invoices must
	// reproduce it, so it is kept even though the key ignores it.
	LegalFormPosition string
}

type legalForm struct {
	canon string
	// words may appear anywhere in the name (they are unambiguous);
	// edges only at the start (ending in ")") or end (starting with "(")
	// because short kana abbreviations such as カ) are ambiguous inside a
	// name.
	words []string
	edges []string
}

// japaneseForms is checked after NFKC, so ㈱ and （株） arrive as (株) and
// half-width ｶ) as カ). Longer forms come first so 一般社団法人 is not read
// as 社団法人.
var japaneseForms = []legalForm{
	{"株式会社", []string{"株式会社", "(株)", "カブシキガイシャ", "カブシキカイシャ"}, []string{"カ)", "(カ"}},
	{"有限会社", []string{"有限会社", "(有)", "ユウゲンガイシャ", "ユウゲンカイシャ"}, []string{"ユ)", "(ユ"}},
	{"合同会社", []string{"合同会社", "(同)", "ゴウドウガイシャ", "ゴウドウカイシャ"}, []string{"ド)", "(ド"}},
	{"合資会社", []string{"合資会社", "(資)"}, []string{"シ)", "(シ"}},
	{"合名会社", []string{"合名会社", "(名)"}, []string{"メ)", "(メ"}},
	{"一般社団法人", []string{"一般社団法人", "(一社)"}, nil},
	{"一般財団法人", []string{"一般財団法人", "(一財)"}, nil},
	{"公益社団法人", []string{"公益社団法人", "(公社)"}, nil},
	{"公益財団法人", []string{"公益財団法人", "(公財)"}, nil},
	{"特定非営利活動法人", []string{"特定非営利活動法人", "NPO法人", "(特非)"}, nil},
	{"医療法人", []string{"医療法人社団", "医療法人財団", "医療法人", "(医)"}, nil},
	{"社会福祉法人", []string{"社会福祉法人", "(福)"}, nil},
	{"学校法人", []string{"学校法人", "(学)"}, nil},
	{"宗教法人", []string{"宗教法人", "(宗)"}, nil},
	{"独立行政法人", []string{"独立行政法人", "(独)"}, nil},
	{"弁護士法人", []string{"弁護士法人"}, nil},
	{"税理士法人", []string{"税理士法人"}, nil},
	{"監査法人", []string{"監査法人"}, nil},
	{"社団法人", []string{"社団法人", "(社)"}, nil},
	{"財団法人", []string{"財団法人", "(財)"}, nil},
}

// englishForms are matched case-insensitively at the end of the name and
// only after a separator, so "Disco" keeps its "co". Longer first.
var englishForms = []struct{ canon, pat string }{
	{"Co., Ltd.", "company limited"},
	{"Co., Ltd.", "co., ltd."}, {"Co., Ltd.", "co.,ltd."}, {"Co., Ltd.", "co., ltd"},
	{"Co., Ltd.", "co.,ltd"}, {"Co., Ltd.", "co. ltd."}, {"Co., Ltd.", "co. ltd"},
	{"Co., Ltd.", "co ltd"}, {"Co., Ltd.", "co.ltd."}, {"Co., Ltd.", "co.ltd"},
	{"K.K.", "kabushiki kaisha"}, {"K.K.", "kabushikikaisha"},
	{"Corp.", "corporation"}, {"Inc.", "incorporated"},
	{"LLC", "l.l.c."}, {"LLP", "l.l.p."},
	{"Inc.", "inc."}, {"Corp.", "corp."}, {"K.K.", "k.k."}, {"G.K.", "g.k."},
	{"Y.K.", "y.k."}, {"Ltd.", "ltd."}, {"Ltd.", "limited"},
	{"Inc.", "inc"}, {"Corp.", "corp"}, {"LLC", "llc"}, {"LLP", "llp"},
	{"Ltd.", "ltd"}, {"K.K.", "kk"}, {"G.K.", "gk"}, {"Co.", "co."},
	{"Co.", "company"},
}

// NormalizeCompany normalises a company name and extracts its legal form.
func NormalizeCompany(s string) Company {
	v := Text(s)
	if v == "" {
		return Company{}
	}
	c := Company{Value: v}
	rest := v
	for _, f := range japaneseForms {
		for _, w := range f.words {
			if i := strings.Index(rest, w); i >= 0 {
				c.setForm(f.canon, i == 0)
				rest = strings.TrimSpace(rest[:i] + " " + rest[i+len(w):])
			}
		}
		for _, w := range f.edges {
			if strings.HasSuffix(w, ")") && strings.HasPrefix(rest, w) && len(rest) > len(w) {
				c.setForm(f.canon, true)
				rest = strings.TrimSpace(rest[len(w):])
			} else if strings.HasPrefix(w, "(") && strings.HasSuffix(rest, w) && len(rest) > len(w) {
				c.setForm(f.canon, false)
				rest = strings.TrimSpace(rest[:len(rest)-len(w)])
			}
		}
	}
	// Strip English forms from the end, repeatedly ("Foo Co., Ltd. Inc").
	for changed := true; changed; {
		changed = false
		low := strings.ToLower(rest)
		for _, f := range englishForms {
			if !strings.HasSuffix(low, f.pat) || len(low) == len(f.pat) {
				continue
			}
			before := low[len(low)-len(f.pat)-1]
			if before != ' ' && before != ',' && before != '.' && before < 0x80 {
				continue
			}
			c.setForm(f.canon, false)
			rest = strings.TrimRight(rest[:len(rest)-len(f.pat)], " ,.")
			changed = true
			break
		}
		// A leading "Kabushiki Kaisha" is rare but exists in old records.
		if p := "kabushiki kaisha "; strings.HasPrefix(low, p) && len(low) > len(p) {
			c.setForm("K.K.", true)
			rest = rest[len(p):]
			changed = true
		}
	}
	c.Key = companyKey(rest)
	return c
}

func (c *Company) setForm(canon string, prefix bool) {
	if c.LegalForm != "" {
		return // keep the first (outermost) form found
	}
	c.LegalForm = canon
	if prefix {
		c.LegalFormPosition = "prefix"
	} else {
		c.LegalFormPosition = "suffix"
	}
}

// companyKey drops everything that does not distinguish companies:
// spaces, punctuation and symbols (・, &, ., quotes), case and variant kanji.
func companyKey(s string) string {
	s = strings.ToLower(foldVariants(s))
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) {
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
