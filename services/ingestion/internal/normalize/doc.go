// Package normalize turns messy Japanese customer data into canonical values
// and matching keys.
//
// Customer lists written by different teams spell the same person in many
// ways: full-width or half-width characters, variant kanji (齋藤/斎藤),
// readings in hiragana or half-width katakana, legal forms before or after a
// company name, phone numbers with any dash, addresses with kanji numerals.
// Each normaliser here returns the canonical value together with the issues
// it found, so a caller can report bad input without losing the record:
// nothing is ever dropped, invalid values are flagged instead.
//
// Every function is pure and deterministic (no I/O, no global state that
// changes), which lets the ingestion service call them from many goroutines
// and makes the fuzz targets in this package meaningful.
//
// Two kinds of output exist and should not be confused:
//   - display values (E-mail, E164, Kana, postal code) are what a person
//     should see and what the normalize CLI writes;
//   - keys (Name.Key, Company.Key, Address.Key) are deliberately lossy forms
//     that only exist to compare records; they are not meant for display.
package normalize
