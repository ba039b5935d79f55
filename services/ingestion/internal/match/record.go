package match

import "github.com/kizuna/kizuna/services/ingestion/internal/normalize"

// Record holds the normalised fields the matcher compares. Empty strings
// mean "unknown" and never count as agreement.
type Record struct {
	ID string
	// Email is the normalised address; leave it empty when the address was
	// invalid, since an invalid address is not evidence of identity.
	Email string
	// Phone is the E.164 number and PhoneMobile whether it is a mobile
	// (personal) number rather than a shared line.
	Phone       string
	PhoneMobile bool
	// Name is the name key; Family and Given its parts when known.
	Name, Family, Given string
	// Kana is the reading key (normalize.Kana.Key).
	Kana string
	// Company is the company key.
	Company string
	// Postal is the NNN-NNNN postal code.
	Postal string
	// Address is the address key and Room the room number in the
	// building part, if any.
	Address, Room string
}

// FromNormalized builds a Record from a normalize.Result.
func FromNormalized(r normalize.Result) Record {
	rec := Record{
		ID:          r.ID,
		Phone:       r.Phone.E164,
		PhoneMobile: r.Phone.Mobile(),
		Name:        r.Name.Key,
		Family:      r.Name.Family,
		Given:       r.Name.Given,
		Kana:        r.Kana.Key,
		Company:     r.Company.Key,
		Postal:      r.Postal.Value,
		Address:     r.Address.Key,
		Room:        r.Address.Room,
	}
	if r.Email.Valid {
		rec.Email = r.Email.Value
	}
	return rec
}

func (r *Record) person() normalize.PersonName {
	return normalize.PersonName{Name: r.Name, Family: r.Family, Given: r.Given, Kana: r.Kana}
}
