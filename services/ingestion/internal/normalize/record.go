package normalize

// Record is one customer row as read from a source, before normalisation.
// Empty fields are simply absent.
type Record struct {
	ID         string
	Name       string
	NameKana   string
	Email      string
	Phone      string
	Company    string
	PostalCode string
	Address    string
}

// Options configures NormalizeRecord. The zero value is valid: Japanese
// default region, no provider e-mail rules.
type Options struct {
	// Region is the default phone region ("" means DefaultRegion).
	Region string
	Email  EmailOptions
}

// Result is a normalised Record: one value per field, each with its display
// value and, where matching needs one, its key.
type Result struct {
	ID      string
	Name    Name
	Kana    Kana
	Email   Email
	Phone   Phone
	Company Company
	Postal  Postal
	Address Address
	// Issues collects the issues of all fields, in field order.
	Issues []Issue
}

// NormalizeRecord normalises every field of r.
func NormalizeRecord(r Record, opt Options) Result {
	res := Result{
		ID:      r.ID,
		Name:    NormalizeName(r.Name),
		Kana:    NormalizeKana(r.NameKana),
		Email:   NormalizeEmail(r.Email, opt.Email),
		Phone:   NormalizePhone(r.Phone, opt.Region),
		Company: NormalizeCompany(r.Company),
		Postal:  NormalizePostal(r.PostalCode),
		Address: NormalizeAddress(r.Address),
	}
	if res.Postal.Value == "" && len(res.Postal.Issues) == 0 && res.Address.Postal != "" {
		res.Postal = Postal{Value: res.Address.Postal} // written before the address only
	}
	for _, is := range [][]Issue{res.Kana.Issues, res.Email.Issues, res.Phone.Issues, res.Postal.Issues, res.Address.Issues} {
		res.Issues = append(res.Issues, is...)
	}
	return res
}
