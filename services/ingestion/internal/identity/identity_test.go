package identity

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
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
			keys: Keys("", "a1", "", "", "", ""),
			want: Decision{Attach: []Key{{AnonymousID, "a1"}}},
		},
		{
			name: "a mobile number in any spelling is one identity",
			keys: Keys("", "a1", "", "", "０９０－１２３４－５６７８", ""),
			want: Decision{Attach: []Key{{AnonymousID, "a1"}, {Phone, "+819012345678"}}},
		},
		{
			name:    "a known mobile number finds its customer",
			keys:    Keys("", "a2", "", "", "+81 90 1234 5678", ""),
			matches: []Match{{Key: Key{Phone, "+819012345678"}, Customer: anon}},
			want:    Decision{CustomerID: "cus_anon", Attach: []Key{{AnonymousID, "a2"}}},
		},
		{
			name: "a fixed line is no identity: households and offices share it",
			keys: Keys("", "a1", "", "", "03-1234-5678", ""),
			want: Decision{Attach: []Key{{AnonymousID, "a1"}}},
		},
		{
			name:    "returning visitor",
			keys:    Keys("", "a1", "", "", "", ""),
			matches: []Match{{Key: Key{AnonymousID, "a1"}, Customer: anon}},
			want:    Decision{CustomerID: "cus_anon"},
		},
		{
			name:    "anonymous visitor identifies: same customer, user id attached",
			keys:    Keys("alice", "a1", "", "Alice@Example.com", "", ""),
			matches: []Match{{Key: Key{AnonymousID, "a1"}, Customer: anon}},
			want:    Decision{CustomerID: "cus_anon", Attach: []Key{{UserID, "alice"}, {Email, "alice@example.com"}}},
		},
		{
			name:    "identify joins the anonymous customer to the known user; the older survives",
			keys:    Keys("alice", "a1", "", "", "", ""),
			matches: []Match{{Key: Key{UserID, "alice"}, Customer: alice}, {Key: Key{AnonymousID, "a1"}, Customer: anon}},
			want:    Decision{CustomerID: "cus_anon", Merge: []string{"cus_alice"}},
		},
		{
			name:    "a device shared with another user does not merge them",
			keys:    Keys("bob", "a1", "", "", "", ""),
			matches: []Match{{Key: Key{UserID, "bob"}, Customer: bob}, {Key: Key{AnonymousID, "a1"}, Customer: alice}},
			want:    Decision{CustomerID: "cus_bob"},
		},
		{
			name:    "a new user on a device another user holds gets a customer of their own",
			keys:    Keys("carol", "a1", "", "", "", ""),
			matches: []Match{{Key: Key{AnonymousID, "a1"}, Customer: alice}},
			want:    Decision{Attach: []Key{{UserID, "carol"}}},
		},
		{
			name:    "e-mail known from a form joins the identified user",
			keys:    Keys("alice", "", "", "alice@example.com", "", ""),
			matches: []Match{{Key: Key{UserID, "alice"}, Customer: alice}, {Key: Key{Email, "alice@example.com"}, Customer: emailOnly}},
			want:    Decision{CustomerID: "cus_alice", Merge: []string{"cus_mail"}},
		},
		{
			name:    "full-width e-mail resolves like its ASCII form",
			keys:    Keys("", "", "", "ＡＬＩＣＥ＠example.com", "", ""),
			matches: []Match{{Key: Key{Email, "alice@example.com"}, Customer: emailOnly}},
			want:    Decision{CustomerID: "cus_mail"},
		},
		{
			name: "an address that is no address is no identity",
			keys: Keys("", "a2", "", "not-an-email", "", ""),
			want: Decision{Attach: []Key{{AnonymousID, "a2"}}},
		},
		{
			name:    "IDN domain resolves like its punycode form",
			keys:    Keys("", "", "", "Hanako@例え.jp", "", ""),
			matches: []Match{{Key: Key{Email, "hanako@xn--r8jz45g.jp"}, Customer: emailOnly}},
			want:    Decision{CustomerID: "cus_mail"},
		},
		{
			name: "a LINE user id is an identity, trimmed",
			keys: Keys("", "a1", " U4af4980629c0ffee00000000000000ab ", "", "", ""),
			want: Decision{Attach: []Key{{AnonymousID, "a1"}, {LineUserID, "U4af4980629c0ffee00000000000000ab"}}},
		},
		{
			name:    "an identify with a user id and a known LINE id joins the LINE follower",
			keys:    Keys("taro", "", "U1", "", "", ""),
			matches: []Match{{Key: Key{LineUserID, "U1"}, Customer: anon}},
			want:    Decision{CustomerID: "cus_anon", Attach: []Key{{UserID, "taro"}}},
		},
		{
			name:    "a LINE id held by another customer is merged into the user's customer",
			keys:    Keys("alice", "", "U1", "", "", ""),
			matches: []Match{{Key: Key{UserID, "alice"}, Customer: alice}, {Key: Key{LineUserID, "U1"}, Customer: emailOnly}},
			want:    Decision{CustomerID: "cus_alice", Merge: []string{"cus_mail"}},
		},
		{
			name:    "a LINE id held by another user does not merge two user ids",
			keys:    Keys("bob", "", "U1", "", "", ""),
			matches: []Match{{Key: Key{UserID, "bob"}, Customer: bob}, {Key: Key{LineUserID, "U1"}, Customer: alice}},
			want:    Decision{CustomerID: "cus_bob"},
		},
		{
			name:    "the LINE id outranks a shared e-mail",
			keys:    Keys("", "", "U1", "family@example.jp", "", ""),
			matches: []Match{{Key: Key{LineUserID, "U1"}, Customer: alice}, {Key: Key{Email, "family@example.jp"}, Customer: bob}},
			want:    Decision{CustomerID: "cus_alice"},
		},
		{
			name:    "alias merges even two user ids",
			keys:    Keys("bob", "", "", "", "", ""),
			matches: []Match{{Key: Key{UserID, "bob"}, Customer: bob}},
			aliasOf: &alice,
			want:    Decision{CustomerID: "cus_alice", Merge: []string{"cus_bob"}},
		},
		{
			name:    "alias to a new user id attaches it to the previous customer",
			keys:    Keys("dave", "", "", "", "", ""),
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

func TestMessageKeysLineUserID(t *testing.T) {
	long := strings.Repeat("U", tracking.MaxIDLength+1)
	tests := []struct {
		name    string
		typ     tracking.Type
		anon    string
		traits  map[string]any
		context map[string]any
		want    []Key
	}{
		{
			name:   "lineUserId trait",
			typ:    tracking.Identify,
			traits: map[string]any{"lineUserId": " Uabc "},
			want:   []Key{{UserID, "u"}, {LineUserID, "Uabc"}},
		},
		{
			name:   "line_user_id trait",
			typ:    tracking.Identify,
			traits: map[string]any{"line_user_id": "Uabc"},
			want:   []Key{{UserID, "u"}, {LineUserID, "Uabc"}},
		},
		{
			name:   "lineUserId wins over line_user_id",
			typ:    tracking.Identify,
			traits: map[string]any{"lineUserId": "U1", "line_user_id": "U2"},
			want:   []Key{{UserID, "u"}, {LineUserID, "U1"}},
		},
		{
			name:   "a non-string value is no identity",
			typ:    tracking.Identify,
			traits: map[string]any{"lineUserId": 12345.0},
			want:   []Key{{UserID, "u"}},
		},
		{
			name:   "a blank value is no identity",
			typ:    tracking.Identify,
			traits: map[string]any{"lineUserId": "   "},
			want:   []Key{{UserID, "u"}},
		},
		{
			name:   "an over-long value is no identity",
			typ:    tracking.Identify,
			traits: map[string]any{"lineUserId": long},
			want:   []Key{{UserID, "u"}},
		},
		{
			name:    "context.traits of a track call",
			typ:     tracking.Track,
			context: map[string]any{"traits": map[string]any{"lineUserId": "Uctx"}},
			want:    []Key{{UserID, "u"}, {LineUserID, "Uctx"}},
		},
		{
			name:   "traits of a track call describe no user",
			typ:    tracking.Track,
			traits: map[string]any{"lineUserId": "Unope"},
			want:   []Key{{UserID, "u"}},
		},
		{
			name: "a line: anonymous id is a LINE user id",
			typ:  tracking.Track,
			anon: "line:Ufollow",
			want: []Key{{UserID, "u"}, {AnonymousID, "line:Ufollow"}, {LineUserID, "Ufollow"}},
		},
		{
			name:   "the trait wins over a line: anonymous id",
			typ:    tracking.Identify,
			anon:   "line:Uanon",
			traits: map[string]any{"lineUserId": "Utrait"},
			want:   []Key{{UserID, "u"}, {AnonymousID, "line:Uanon"}, {LineUserID, "Utrait"}},
		},
		{
			name: "an empty line: anonymous id is no LINE user id",
			typ:  tracking.Track,
			anon: "line:",
			want: []Key{{UserID, "u"}, {AnonymousID, "line:"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := MessageKeys(tt.typ, "u", tt.anon, tt.traits, tt.context, "")
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("MessageKeys() = %v, want %v", got, tt.want)
			}
		})
	}
}
