package profile

import (
	"reflect"
	"testing"

	"github.com/kizuna/kizuna/services/ingestion/internal/normalize"
)

func TestRecord(t *testing.T) {
	tests := []struct {
		name   string
		traits map[string]any
		want   normalize.Record
	}{
		{
			name:   "segment spec names",
			traits: map[string]any{"email": " a@example.jp ", "phone": "03-1234-5678", "name": "山田 太郎", "company": map[string]any{"name": "トヨクモ㈱"}},
			want:   normalize.Record{ID: "c", Email: "a@example.jp", Phone: "03-1234-5678", Name: "山田 太郎", Company: "トヨクモ㈱"},
		},
		{
			name:   "first and last name in Japanese order",
			traits: map[string]any{"firstName": "太郎", "lastName": "山田", "first_name_kana": "タロウ", "last_name_kana": "ヤマダ"},
			want:   normalize.Record{ID: "c", Name: "山田 太郎", NameKana: "ヤマダ タロウ"},
		},
		{
			name:   "kintone style names",
			traits: map[string]any{"furigana": "ﾔﾏﾀﾞ", "zip": "1000005", "address": "東京都千代田区丸の内1-2-3", "company": "株式会社トヨクモ"},
			want:   normalize.Record{ID: "c", NameKana: "ﾔﾏﾀﾞ", PostalCode: "1000005", Address: "東京都千代田区丸の内1-2-3", Company: "株式会社トヨクモ"},
		},
		{
			name:   "segment address object with the prefecture as state",
			traits: map[string]any{"address": map[string]any{"state": "東京都", "city": "千代田区", "street": "丸の内1-2-3", "postalCode": "100-0005"}},
			want:   normalize.Record{ID: "c", Address: "東京都千代田区丸の内1-2-3", PostalCode: "100-0005"},
		},
		{
			name:   "numbers from CSV imports; other types ignored",
			traits: map[string]any{"phone": float64(312345678), "postal_code": float64(1000005), "name": true, "email": []any{"x"}},
			want:   normalize.Record{ID: "c", Phone: "312345678", PostalCode: "1000005"},
		},
		{name: "nothing", traits: map[string]any{"plan": "gold"}, want: normalize.Record{ID: "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Record("c", tt.traits); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Record = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	got := Describe(map[string]any{"email": "not-an-address", "phone": "０９０-1234-5678", "company": "ﾄﾖｸﾓ(株)", "plan": "gold"}, "")
	want := []Trait{
		{Trait: Email, Original: "not-an-address", Normalized: "not-an-address", Issues: []string{"invalid_email"}},
		{Trait: Phone, Original: "０９０-1234-5678", Normalized: "+819012345678"},
		{Trait: Company, Original: "ﾄﾖｸﾓ(株)", Normalized: "トヨクモ(株)", Key: "トヨクモ"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Describe = %+v\nwant %+v", got, want)
	}
}

func TestMobilePhone(t *testing.T) {
	for in, want := range map[string]string{
		"090-1234-5678":    "+819012345678",
		"+81 80 1234 5678": "+818012345678",
		"03-1234-5678":     "", // fixed line
		"0120-123-456":     "", // toll free
		"not a number":     "",
	} {
		if got := MobilePhone(in, ""); got != want {
			t.Errorf("MobilePhone(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMobilePhoneRegion(t *testing.T) {
	// A British mobile written domestically is only a number with its
	// region.
	if got := MobilePhone("07400 123456", "GB"); got != "+447400123456" {
		t.Errorf("GB domestic = %q", got)
	}
	if got := MobilePhone("090-1234-5678", "GB"); got != "" {
		t.Errorf("a Japanese domestic number read as US = %q, want none", got)
	}
}

func TestEmpty(t *testing.T) {
	if !Empty(MatchRecord("c", map[string]any{"plan": "gold", "email": "bad"}, "")) {
		t.Error("a customer with only an invalid e-mail should be empty for matching")
	}
	if Empty(MatchRecord("c", map[string]any{"name": "山田太郎"}, "")) {
		t.Error("a name is something to match on")
	}
}
