package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/profile"
)

// SearchByName pages through the live customers whose normalised name or
// kana reading contains one of the keys, in customer id order, after the
// customer id in token. The identity_traits column holds each customer's
// normalised identity traits as JSON: a LIKE on it narrows the scan in
// SQL, and each candidate is checked on its decoded traits so a key found
// in another trait (an address, a company) does not match.
func (s *Store) SearchByName(ctx context.Context, ws string, q customer.NameSearch, pageSize int, token string) ([]*customer.Customer, string, error) {
	after := ""
	if token != "" {
		_, id, err := decodeToken(token)
		if err != nil {
			return nil, "", err
		}
		after = id
	}
	var likes []string
	args := []any{ws, after}
	for i, k := range []string{q.NameKey, q.KanaKey} {
		if k == "" || (i == 1 && k == q.NameKey) {
			continue
		}
		args = append(args, "%"+likeEscape(jsonInner(k))+"%")
		likes = append(likes, fmt.Sprintf(`identity_traits LIKE $%d ESCAPE '\'`, len(args)))
	}
	if len(likes) == 0 {
		return nil, "", nil
	}
	rows, err := s.db.QueryContext(ctx, `SELECT customer_id, identity_traits FROM customers
		WHERE workspace_id = $1 AND merged_into = '' AND customer_id > $2 AND (`+strings.Join(likes, " OR ")+`)
		ORDER BY customer_id`, args...)
	if err != nil {
		return nil, "", fmt.Errorf("search customers: %w", err)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() && len(ids) <= pageSize {
		var id, raw string
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, "", fmt.Errorf("scan customer: %w", err)
		}
		var traits []profile.Trait
		if err := json.Unmarshal([]byte(raw), &traits); err != nil {
			return nil, "", fmt.Errorf("decode identity traits of %s: %w", id, err)
		}
		if nameMatches(traits, q) {
			ids = append(ids, id)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("search customers: %w", err)
	}
	// Closed before the profiles are read: SQLite runs one connection.
	rows.Close()
	next := ""
	if len(ids) > pageSize {
		ids = ids[:pageSize]
		next = encodeToken("", ids[pageSize-1])
	}
	if len(ids) == 0 {
		return nil, "", nil
	}
	found, err := s.Customers(ctx, ws, ids)
	if err != nil {
		return nil, "", err
	}
	return found, next, nil
}

func nameMatches(traits []profile.Trait, q customer.NameSearch) bool {
	for _, t := range traits {
		key := t.Key
		if key == "" {
			key = t.Normalized
		}
		switch t.Trait {
		case profile.Name:
			if q.NameKey != "" && strings.Contains(key, q.NameKey) {
				return true
			}
		case profile.NameKana:
			if q.KanaKey != "" && strings.Contains(key, q.KanaKey) {
				return true
			}
		}
	}
	return false
}

// jsonInner is s as it appears inside a JSON string.
func jsonInner(s string) string {
	b, _ := json.Marshal(s) // a string always encodes
	return string(b[1 : len(b)-1])
}
