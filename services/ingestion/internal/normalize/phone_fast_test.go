package normalize

import (
	"math/rand/v2"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

// slowPhone is the reference: libphonenumber's own parser for everything.
func slowPhone(digits string) Phone {
	num, err := phonenumbers.Parse(digits, "JP")
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return Phone{Issues: []Issue{IssueInvalidPhone}}
	}
	return Phone{E164: phonenumbers.Format(num, phonenumbers.E164), Type: lineType(phonenumbers.GetNumberType(num))}
}

// TestPhoneFastPathMatchesParse checks that the hand-built fast path gives
// exactly what Parse + IsValidNumber + GetNumberType give, on random
// Japanese numbers of every prefix and length the fast path accepts.
func TestPhoneFastPathMatchesParse(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 20000
	if testing.Short() {
		n = 2000
	}
	for range n {
		l := 10 + rng.IntN(2)
		d := []byte{'0', byte('1' + rng.IntN(9))}
		for len(d) < l {
			d = append(d, byte('0'+rng.IntN(10)))
		}
		s := string(d)
		for _, in := range []string{s, "+81" + s[1:]} {
			got := NormalizePhone(in, "JP")
			want := slowPhone(in)
			if got.E164 != want.E164 || got.Type != want.Type || len(got.Issues) != len(want.Issues) {
				t.Fatalf("%s: fast %+v, Parse %+v", in, got, want)
			}
		}
	}
}
