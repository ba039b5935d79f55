// Package profile reads the traits that identify a person (e-mail, phone,
// name and its reading, company, postal code, address) out of a customer's
// free-form Segment traits and normalises them, so that identity resolution
// and duplicate matching compare normalised values while the originals stay
// in the traits as received.
//
// Trait names follow the Segment spec (email, phone, name, firstName,
// lastName, company, address{state,city,street,postalCode}) plus the names
// Japanese CRMs export (name_kana, furigana, postal_code, zip …); see
// docs/DESIGN.md for the full list.
package profile

import (
	"fmt"
	"strings"

	"github.com/kizuna/kizuna/services/ingestion/internal/match"
	"github.com/kizuna/kizuna/services/ingestion/internal/normalize"
)

// Trait names of the identity traits, in the order they are reported.
const (
	Email      = "email"
	Phone      = "phone"
	Name       = "name"
	NameKana   = "name_kana"
	Company    = "company"
	PostalCode = "postal_code"
	Address    = "address"
)

// Alternative trait names, first match wins.
var (
	kanaNames   = []string{"name_kana", "nameKana", "furigana", "kana", "name_reading"}
	postalNames = []string{"postal_code", "postalCode", "zip", "zipcode", "zip_code"}
)

// Record extracts the identity traits of a customer.
func Record(id string, traits map[string]any) normalize.Record {
	r := normalize.Record{
		ID:       id,
		Email:    text(traits["email"]),
		Phone:    text(traits["phone"]),
		Name:     text(traits["name"]),
		NameKana: first(traits, kanaNames),
	}
	if r.Name == "" {
		// Japanese order: family name first.
		r.Name = join(first(traits, []string{"lastName", "last_name"}), first(traits, []string{"firstName", "first_name"}))
	}
	if r.NameKana == "" {
		r.NameKana = join(first(traits, []string{"last_name_kana", "lastNameKana"}), first(traits, []string{"first_name_kana", "firstNameKana"}))
	}
	switch c := traits["company"].(type) {
	case map[string]any:
		r.Company = text(c["name"])
	default:
		r.Company = text(c)
	}
	r.PostalCode = first(traits, postalNames)
	switch a := traits["address"].(type) {
	case map[string]any:
		// Segment's address object; state holds the prefecture in Japan.
		r.Address = strings.TrimSpace(text(a["state"]) + text(a["city"]) + text(a["street"]))
		if r.PostalCode == "" {
			r.PostalCode = first(a, postalNames)
		}
	default:
		r.Address = text(a)
	}
	return r
}

// Normalize extracts and normalises the identity traits; phones without a
// country code are read in region ("" means Japan).
func Normalize(id string, traits map[string]any, region string) normalize.Result {
	return normalize.NormalizeRecord(Record(id, traits), normalize.Options{Region: region})
}

// MatchRecord is the matcher's view of a customer.
func MatchRecord(id string, traits map[string]any, region string) match.Record {
	return match.FromNormalized(Normalize(id, traits, region))
}

// Empty reports whether r holds nothing the matcher could compare.
func Empty(r match.Record) bool {
	return r.Email == "" && r.Phone == "" && r.Name == "" && r.Kana == "" && r.Company == "" && r.Address == ""
}

// Trait is one identity trait as received and as normalised.
type Trait struct {
	Trait      string   `json:"trait"`
	Original   string   `json:"original"`
	Normalized string   `json:"normalized,omitempty"`
	Key        string   `json:"key,omitempty"`
	Issues     []string `json:"issues,omitempty"`
}

// Describe lists the identity traits present in traits, each with its
// normalised form and issues.
func Describe(traits map[string]any, region string) []Trait {
	r := Record("", traits)
	n := normalize.NormalizeRecord(r, normalize.Options{Region: region})
	var out []Trait
	add := func(name, original, normalized, key string, issues []normalize.Issue) {
		if original == "" {
			return
		}
		t := Trait{Trait: name, Original: original, Normalized: normalized}
		if key != normalized {
			t.Key = key
		}
		for _, is := range issues {
			t.Issues = append(t.Issues, string(is))
		}
		out = append(out, t)
	}
	add(Email, r.Email, n.Email.Value, n.Email.Value, n.Email.Issues)
	add(Phone, r.Phone, n.Phone.E164, n.Phone.E164, n.Phone.Issues)
	add(Name, r.Name, n.Name.Value, n.Name.Key, nil)
	add(NameKana, r.NameKana, n.Kana.Value, n.Kana.Key, n.Kana.Issues)
	add(Company, r.Company, n.Company.Value, n.Company.Key, nil)
	add(PostalCode, r.PostalCode, n.Postal.Value, n.Postal.Value, n.Postal.Issues)
	add(Address, r.Address, n.Address.Value, n.Address.Key, n.Address.Issues)
	return out
}

// MobilePhone returns the E.164 form of s when it is a mobile number: a
// personal line strong enough to identify one person. Fixed lines are
// shared by households and offices and are no identity.
func MobilePhone(s, region string) string {
	p := normalize.NormalizePhone(s, region)
	if !p.Mobile() {
		return ""
	}
	return p.E164
}

func first(m map[string]any, names []string) string {
	for _, n := range names {
		if s := text(m[n]); s != "" {
			return s
		}
	}
	return ""
}

func join(a, b string) string { return strings.TrimSpace(a + " " + b) }

// text renders a scalar trait; numbers are accepted because CSV imports
// often send postal codes and phone numbers as numbers.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case float64:
		return fmt.Sprintf("%.0f", x)
	default:
		return ""
	}
}
