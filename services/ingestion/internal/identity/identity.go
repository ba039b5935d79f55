// Package identity decides which customer a message belongs to. Given the
// customers that already hold the message's identities, it picks the one to
// use, which of the others are the same person and must be merged, and which
// identities to attach.
//
// The rule that keeps merges precise: a user id is authoritative. Customers
// holding two different user ids are never merged by resolution (a shared
// device or a shared family e-mail is not one person); only an explicit alias
// call merges them.
package identity

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/normalize"
	"github.com/kizuna/kizuna/services/ingestion/internal/profile"
	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
)

// Identity kinds.
const (
	UserID      = "user_id"
	AnonymousID = "anonymous_id"
	Email       = "email"
	// Phone is a mobile number in E.164. Fixed lines are no identity: a
	// household or an office shares them.
	Phone = "phone"
	// LineUserID is a LINE user id ("U" and 32 hex digits), from the trait
	// lineUserId or line_user_id, or from an anonymous id "line:<id>".
	LineUserID = "line_user_id"
)

// LineAnonymousPrefix marks an anonymous id that is a LINE user id: events
// of a LINE account known only by its id (a follow through the LINE
// webhook) carry the anonymous id "line:U…", and resolve with a later
// identify whose traits hold lineUserId "U…".
const LineAnonymousPrefix = "line:"

// lineTraits are the trait names a LINE user id is read from, in order.
var lineTraits = []string{"lineUserId", "line_user_id"}

// Key is one identity.
type Key struct {
	Kind  string
	Value string
}

// Keys lists a message's identities, in order of authority (user id,
// anonymous id, LINE user id, e-mail, mobile), normalised; phones without
// a country code are read in region ("" means Japan).
func Keys(userID, anonymousID, lineUserID, email, phone, region string) []Key {
	var keys []Key
	if userID != "" {
		keys = append(keys, Key{UserID, userID})
	}
	if anonymousID != "" {
		keys = append(keys, Key{AnonymousID, anonymousID})
	}
	if l := NormalizeLineUserID(lineUserID); l != "" {
		keys = append(keys, Key{LineUserID, l})
	}
	if e := NormalizeEmail(email); e != "" {
		keys = append(keys, Key{Email, e})
	}
	if p := profile.MobilePhone(phone, region); p != "" {
		keys = append(keys, Key{Phone, p})
	}
	return keys
}

// MessageKeys lists the identities a message states about its user: its ids
// and the LINE user id, e-mail and phone of its identify traits or
// context.traits (the LINE user id else from a "line:" anonymous id). It is
// used both when a message is stored and when an undone merge re-resolves
// stored events, so the two always agree.
func MessageKeys(t tracking.Type, userID, anonymousID string, traits, context map[string]any, region string) []Key {
	return Keys(userID, anonymousID, MessageLineUserID(t, anonymousID, traits, context),
		tracking.UserTrait(t, traits, context, "email"), tracking.UserTrait(t, traits, context, "phone"), region)
}

// MessageLineUserID returns the LINE user id a message states about its
// user: the first usable trait lineUserId or line_user_id (identify traits,
// else context.traits), else the id of a "line:<id>" anonymous id. A value
// that is no string, blank or over tracking.MaxIDLength is no identity
// (the raw value stays in the traits); "" when there is none.
func MessageLineUserID(t tracking.Type, anonymousID string, traits, context map[string]any) string {
	for _, name := range lineTraits {
		if v := NormalizeLineUserID(tracking.UserTrait(t, traits, context, name)); v != "" {
			return v
		}
	}
	if id, ok := strings.CutPrefix(anonymousID, LineAnonymousPrefix); ok {
		return NormalizeLineUserID(id)
	}
	return ""
}

// NormalizeLineUserID trims a LINE user id; it returns "" for a value that
// cannot be one. Any non-blank id up to the id length limit is accepted,
// not only LINE's own "U" and 32 hex digits: the platform may change its
// format, and an id no LINE message carries merely never matches.
func NormalizeLineUserID(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > tracking.MaxIDLength {
		return ""
	}
	return s
}

// NormalizeEmail folds the forms one address takes in real data (full-width
// characters, upper case, stray spaces, IDN domains) so they resolve to one
// customer. An address that fails the syntax check is no identity: it
// returns "" (the raw value stays in the traits).
func NormalizeEmail(s string) string {
	e := normalize.NormalizeEmail(s, normalize.EmailOptions{})
	if !e.Valid {
		return ""
	}
	return e.Value
}

// Customer is an existing customer holding one of a message's identities.
type Customer struct {
	ID         string
	UserID     string // the user id it holds, if any
	CreateTime time.Time
}

// Match says which customer holds a key.
type Match struct {
	Key      Key
	Customer Customer
	// NameConflict marks a mobile number (Phone key) whose holder's name
	// conflicts with the message's (normalize.SharedMobileNameConflict):
	// the match neither resolves nor merges, and the holder is suggested
	// for review instead (Decision.Suggest).
	NameConflict bool
}

// Decision is what to do with a message.
type Decision struct {
	// CustomerID is the customer the message belongs to; empty means create
	// one.
	CustomerID string
	// Merge lists customers that are the same person as CustomerID and are to
	// be folded into it.
	Merge []string
	// Attach lists the message's keys to point at CustomerID: those no
	// customer holds yet.
	Attach []Key
	// Suggest lists customers holding the message's mobile number under a
	// conflicting name: a merge with CustomerID is suggested, not made
	// (normalize.RuleSharedMobileNameConflict).
	Suggest []string
}

// Decide resolves a message with the given keys, whose already-held keys are
// in matches. aliasOf, when set, is the customer an alias call's previousId
// names: it is merged whatever user id it holds.
func Decide(keys []Key, matches []Match, aliasOf *Customer) Decision {
	held := make(map[Key]Customer, len(matches))
	blocked := map[Key]bool{}
	var d Decision
	for _, m := range matches {
		if m.NameConflict && m.Key.Kind == Phone {
			blocked[m.Key] = true
			if !slices.Contains(d.Suggest, m.Customer.ID) {
				d.Suggest = append(d.Suggest, m.Customer.ID)
			}
			continue
		}
		held[m.Key] = m.Customer
	}
	var userID string
	for _, k := range keys {
		if k.Kind == UserID {
			userID = k.Value
		}
	}

	// A customer holding the message's user id does not conflict with it,
	// even when an alias gave it another user id first.
	userHolder := ""
	if c, ok := held[Key{UserID, userID}]; ok && userID != "" {
		userHolder = c.ID
	}
	conflicts := func(c Customer, user string) bool {
		return user != "" && c.UserID != "" && c.UserID != user && c.ID != userHolder
	}

	// The primary customer: the one holding the message's user id, else the
	// first key's holder in authority order whose user id does not conflict.
	var primary *Customer
	for _, k := range keys {
		c, ok := held[k]
		if !ok || conflicts(c, userID) {
			continue
		}
		primary = &c
		break
	}
	if primary == nil && aliasOf != nil {
		primary = aliasOf
	}

	if primary != nil {
		d.CustomerID = primary.ID
		merged := map[string]bool{primary.ID: true}
		effectiveUser := firstNonEmpty(userID, primary.UserID)
		var merge []Customer
		for _, k := range keys {
			c, ok := held[k]
			if !ok || merged[c.ID] {
				continue
			}
			if conflicts(c, effectiveUser) {
				continue // another person who shares a device or an e-mail
			}
			merged[c.ID] = true
			merge = append(merge, c)
			if effectiveUser == "" {
				effectiveUser = c.UserID
			}
		}
		if aliasOf != nil && !merged[aliasOf.ID] {
			merge = append(merge, *aliasOf)
		}
		// The oldest customer survives, so ids handed out earlier stay valid.
		all := append([]Customer{*primary}, merge...)
		sort.SliceStable(all, func(i, j int) bool {
			if !all[i].CreateTime.Equal(all[j].CreateTime) {
				return all[i].CreateTime.Before(all[j].CreateTime)
			}
			return all[i].ID < all[j].ID
		})
		d.CustomerID = all[0].ID
		for _, c := range all[1:] {
			d.Merge = append(d.Merge, c.ID)
		}
	}
	for _, k := range keys {
		if _, ok := held[k]; !ok && !blocked[k] {
			d.Attach = append(d.Attach, k)
		}
	}
	return d
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
