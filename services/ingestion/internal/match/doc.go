// Package match finds records that describe the same customer.
//
// It works on records whose fields were already normalised by package
// normalize, in three steps:
//
//  1. Blocking. Each record is put into a few blocks keyed on normalised
//     values (e-mail; phone; name+postal code; name+address; reading+address;
//     reading+postal code; company+name; company+reading). Only records that
//     share a block are compared, so the work grows with the number of
//     plausible pairs, not with n². A block larger than Options.MaxBlock
//     (a company main line shared by hundreds of staff, a placeholder e-mail
//     such as none@example.com) is not expanded into all pairs: its records
//     are sorted by name and each is compared with its next Options.Window
//     neighbours only, which still finds the same person entered twice but
//     bounds the pairs to Window per record.
//
//  2. Scoring. Each candidate pair gets a score in [0, 1] and one reason per
//     compared field ("email:exact", "phone_landline:exact",
//     "given_name:differs", "name_kana:similar(0.93)" …). The score is built
//     so that precision is the default: a strong identifier (same e-mail,
//     same mobile number) is enough on its own; a weak identifier (fixed
//     line, address, company), even several together, is not, and needs the
//     name to agree; the name alone is never enough (namesakes); and a
//     conflicting name lowers the score, so a household (same address and
//     landline, different given name) or colleagues (same company and main
//     line) stay apart.
//
//  3. Decision and clustering. Pairs at or above Options.High are merged,
//     pairs between Options.Low and Options.High are review suggestions.
//     One rule overrides the score: two records sharing a mobile number
//     whose names conflict (normalize.SharedMobileNameConflict: a family
//     phone, a reused number) are always a review suggestion, with the
//     reason rule:shared_mobile_name_conflict — live identity resolution
//     applies the same rule, so the two never disagree on such a pair.
//     Clusters joins merged pairs with union-find.
package match
