package segment

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
)

// DecodeTraits decodes the traits in a customer's traits document (a JSON
// object) that keys names, leaving out the others: a bulk evaluation
// reads every customer's document, and decoding whole documents with
// encoding/json was most of the cost of reading the customers. The values
// kept are what json.Unmarshal into a map[string]any gives.
//
// The document is checked to be valid JSON; the top-level object is then
// walked by decodeKeys, which hands any document it does not follow (an
// escape in a key or in a string value kept, a nested value kept) to
// json.Unmarshal.
func DecodeTraits(data []byte, keys []string) (map[string]any, error) {
	if !json.Valid(data) {
		return nil, fmt.Errorf("traits: invalid JSON %.40q", data)
	}
	if out, ok := decodeKeys(data, keys); ok {
		return out, nil
	}
	var all map[string]any
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, fmt.Errorf("traits: %w", err)
	}
	for k := range all {
		if !slices.Contains(keys, k) {
			delete(all, k)
		}
	}
	return all, nil
}

// decodeKeys walks a valid JSON object and decodes the values of keys,
// reporting false when the document takes json.Unmarshal.
func decodeKeys(data []byte, keys []string) (map[string]any, bool) {
	d := traitScanner{data: data}
	if d.skipSpace(); !d.consume('{') {
		return nil, false // null or not an object: json.Unmarshal decides
	}
	out := make(map[string]any, len(keys))
	if d.skipSpace(); d.consume('}') {
		return out, true
	}
	for {
		d.skipSpace()
		key, ok := d.plainString()
		if !ok {
			return nil, false
		}
		d.skipSpace()
		d.consume(':')
		d.skipSpace()
		start := d.pos
		d.skipValue()
		if i := slices.Index(keys, string(key)); i >= 0 { // keys[i], not a copy of key: no allocation
			v, ok := plainValue(data[start:d.pos])
			if !ok {
				return nil, false
			}
			out[keys[i]] = v // a repeated key: the last wins, as with json.Unmarshal
		}
		d.skipSpace()
		if d.consume('}') {
			return out, true
		}
		d.consume(',')
	}
}

// plainValue decodes a scalar JSON value without escapes, as json.Unmarshal
// into an any would.
func plainValue(v []byte) (any, bool) {
	switch {
	case len(v) == 0:
		return nil, false
	case v[0] == '"':
		if bytes.IndexByte(v, '\\') >= 0 {
			return nil, false
		}
		return string(v[1 : len(v)-1]), true
	case v[0] == '-' || v[0] >= '0' && v[0] <= '9':
		f, err := strconv.ParseFloat(string(v), 64)
		return f, err == nil
	case string(v) == "true":
		return true, true
	case string(v) == "false":
		return false, true
	case string(v) == "null":
		return nil, true
	}
	return nil, false // an object or an array
}

// traitScanner walks JSON already checked valid, so it need not check
// what it skips.
type traitScanner struct {
	data []byte
	pos  int
}

func (d *traitScanner) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *traitScanner) consume(c byte) bool {
	if d.pos < len(d.data) && d.data[d.pos] == c {
		d.pos++
		return true
	}
	return false
}

// plainString reads a string without escapes, returning its contents.
func (d *traitScanner) plainString() ([]byte, bool) {
	if !d.consume('"') {
		return nil, false
	}
	end := bytes.IndexAny(d.data[d.pos:], `"\`)
	if end < 0 || d.data[d.pos+end] != '"' {
		return nil, false
	}
	s := d.data[d.pos : d.pos+end]
	d.pos += end + 1
	return s, true
}

// skipValue moves past one value.
func (d *traitScanner) skipValue() {
	depth := 0
	for d.pos < len(d.data) {
		switch c := d.data[d.pos]; c {
		case '"':
			d.skipString()
			if depth == 0 {
				return
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return // the end of the enclosing object: a scalar ended before
			}
			depth--
			if depth == 0 {
				d.pos++
				return
			}
		case ',':
			if depth == 0 {
				return
			}
		case ' ', '\t', '\n', '\r':
			if depth == 0 {
				return
			}
		}
		d.pos++
	}
}

// skipString moves past a string, escapes included.
func (d *traitScanner) skipString() {
	d.pos++ // the opening quote
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case '\\':
			d.pos += 2
		case '"':
			d.pos++
			return
		default:
			d.pos++
		}
	}
}
