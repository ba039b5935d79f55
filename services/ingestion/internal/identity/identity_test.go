package identity

import (
	"reflect"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	anon := Customer{ID: "cus_anon", CreateTime: t0}
	alice := Customer{ID: "cus_alice", UserID: "alice", CreateTime: t0.Add(time.Hour)}
	bob := Customer{ID: "cus_bob", UserID: "bob", CreateTime: t0.Add(2 * time.Hour)}
	emailOnly := Customer{ID: "cus_mail", CreateTime: t0.Add(3 * time.Hour)}

	tests := []struct {
		name    string
		keys    []Key
		matches []Match
		aliasOf *Customer
		want    Decision
	}{
		{
			name: "new visitor creates a customer",
			keys: Keys("", "a1", "", "", ""),
			want: Decision{Attach: []Key{{AnonymousID, "a1"}}},
		},
		{
			name: "a mobile number in any spelling is one identity",
			keys: Keys("", "a1", "", "０９０－１２３４－５６７８", ""),
			want: Decision{Attach: []Key{{AnonymousID, "a1"}, {Phone, "+819012345678"}}},
		},
		{
			name:    "a known mobile number finds its customer",
			keys:    Keys("", "a2", "", "+81 90 1234 5678", ""),
			matches: []Match{{Key{Phone, "+819012345678"}, anon}},
			want:    Decision{CustomerID: "cus_anon", Attach: []Key{{AnonymousID, "a2"}}},
		},
		{
			name: "a fixed line is no identity: households and offices share it",
			keys: Keys("", "a1", "", "03-1234-5678", ""),
			want: Decision{Attach: []Key{{AnonymousID, "a1"}}},
		},
		{
			name:    "returning visitor",
			keys:    Keys("", "a1", "", "", ""),
			matches: []Match{{Key{AnonymousID, "a1"}, anon}},
			want:    Decision{CustomerID: "cus_anon"},
		},
		{
			name:    "anonymous visitor identifies: same customer, user id attached",
			keys:    Keys("alice", "a1", "Alice@Example.com", "", ""),
			matches: []Match{{Key{AnonymousID, "a1"}, anon}},
			want:    Decision{CustomerID: "cus_anon", Attach: []Key{{UserID, "alice"}, {Email, "alice@example.com"}}},
		},
		{
			name:    "identify joins the anonymous customer to the known user; the older survives",
			keys:    Keys("alice", "a1", "", "", ""),
			matches: []Match{{Key{UserID, "alice"}, alice}, {Key{AnonymousID, "a1"}, anon}},
			want:    Decision{CustomerID: "cus_anon", Merge: []string{"cus_alice"}},
		},
		{
			name:    "a device shared with another user does not merge them",
			keys:    Keys("bob", "a1", "", "", ""),
			matches: []Match{{Key{UserID, "bob"}, bob}, {Key{AnonymousID, "a1"}, alice}},
			want:    Decision{CustomerID: "cus_bob"},
		},
		{
			name:    "a new user on a device another user holds gets a customer of their own",
			keys:    Keys("carol", "a1", "", "", ""),
			matches: []Match{{Key{AnonymousID, "a1"}, alice}},
			want:    Decision{Attach: []Key{{UserID, "carol"}}},
		},
		{
			name:    "e-mail known from a form joins the identified user",
			keys:    Keys("alice", "", "alice@example.com", "", ""),
			matches: []Match{{Key{UserID, "alice"}, alice}, {Key{Email, "alice@example.com"}, emailOnly}},
			want:    Decision{CustomerID: "cus_alice", Merge: []string{"cus_mail"}},
		},
		{
			name:    "full-width e-mail resolves like its ASCII form",
			keys:    Keys("", "", "ＡＬＩＣＥ＠example.com", "", ""),
			matches: []Match{{Key{Email, "alice@example.com"}, emailOnly}},
			want:    Decision{CustomerID: "cus_mail"},
		},
		{
			name: "an address that is no address is no identity",
			keys: Keys("", "a2", "not-an-email", "", ""),
			want: Decision{Attach: []Key{{AnonymousID, "a2"}}},
		},
		{
			name:    "IDN domain resolves like its punycode form",
			keys:    Keys("", "", "Hanako@例え.jp", "", ""),
			matches: []Match{{Key{Email, "hanako@xn--r8jz45g.jp"}, emailOnly}},
			want:    Decision{CustomerID: "cus_mail"},
		},
		{
			name:    "alias merges even two user ids",
			keys:    Keys("bob", "", "", "", ""),
			matches: []Match{{Key{UserID, "bob"}, bob}},
			aliasOf: &alice,
			want:    Decision{CustomerID: "cus_alice", Merge: []string{"cus_bob"}},
		},
		{
			name:    "alias to a new user id attaches it to the previous customer",
			keys:    Keys("dave", "", "", "", ""),
			aliasOf: &anon,
			want:    Decision{CustomerID: "cus_anon", Attach: []Key{{UserID, "dave"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(tt.keys, tt.matches, tt.aliasOf)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decide() = %+v, want %+v", got, tt.want)
			}
		})
	}
}
