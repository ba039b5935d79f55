package normalize

// Issue names a problem found while normalising one field. The string values
// are stable: they are written to CSV reports and may be used by callers to
// count or filter records.
type Issue string

// Issues reported by the normalisers.
const (
	IssueInvalidEmail  Issue = "invalid_email"
	IssueInvalidPhone  Issue = "invalid_phone"
	IssueInvalidPostal Issue = "invalid_postal_code"
	// IssueInvalidKana means the reading contained characters other than
	// kana, e.g. kanji typed into the フリガナ column.
	IssueInvalidKana Issue = "invalid_name_kana"
	// IssueNoPrefecture means the address did not start with one of the
	// 47 prefectures. It is informational: many lists omit it.
	IssueNoPrefecture Issue = "address_without_prefecture"
)
