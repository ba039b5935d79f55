package segment_test

import (
	"encoding/json"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"

	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
)

// wantTraits is what DecodeTraits must give: json.Unmarshal's map, less
// the keys not asked for.
func wantTraits(t *testing.T, doc string, keys []string) map[string]any {
	t.Helper()
	var all map[string]any
	if err := json.Unmarshal([]byte(doc), &all); err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	if all == nil {
		return nil
	}
	maps.DeleteFunc(all, func(k string, _ any) bool { return !slices.Contains(keys, k) })
	return all
}

func TestDecodeTraits(t *testing.T) {
	keys := []string{"plan", "age", "city", "a\"b", "tags", "é"}
	docs := []string{
		`{}`, ` { } `, `null`,
		`{"plan":"pro","age":42,"city":"東京都"}`,
		`{"email":"x@y","plan":null,"age":-1.5e3,"other":{"plan":"no","x":[1,{"y":"}"}]}}`,
		"{\n\t\"plan\" : \"team\" ,\r\n \"age\" : 0 }",
		`{"plan":"a","plan":"b"}`,                // the last wins
		`{"plan":"line\nbreak","age":true}`,      // an escape in a value kept
		`{"pl\u0061n":"escaped key"}`,            // an escape in a key
		`{"a\"b":1,"skipped":"q\"uote"}`,         // escaped quotes
		`{"tags":["x","y"],"city":{"ward":"k"}}`, // nested values kept
		`{"age":false,"city":"","é":"ü"}`,
		`{"x":[[],{}],"age":1e400}`, // out of float range: json.Unmarshal fails, so must DecodeTraits
	}
	for _, doc := range docs {
		var all map[string]any
		unmarshalErr := json.Unmarshal([]byte(doc), &all)
		got, err := segment.DecodeTraits([]byte(doc), keys)
		if unmarshalErr != nil {
			if err == nil {
				t.Errorf("%s: no error, json.Unmarshal's: %v", doc, unmarshalErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", doc, err)
			continue
		}
		if want := wantTraits(t, doc, keys); !reflect.DeepEqual(got, want) && (len(got) != 0 || len(want) != 0) {
			t.Errorf("%s: got %#v, want %#v", doc, got, want)
		}
	}
	for _, bad := range []string{``, `{`, `{"plan":}`, `{"plan":"x",}`, `{"plan":"x"} trailing`, `[1,2]`} {
		if got, err := segment.DecodeTraits([]byte(bad), keys); err == nil {
			t.Errorf("%q: %#v, want an error", bad, got)
		}
	}
}

// TestDecodeTraitsRandom compares DecodeTraits with json.Unmarshal on
// random documents as json.Marshal writes them.
func TestDecodeTraitsRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	names := []string{"plan", "age", "city", "email", "tags", "nested", "q\"k", "long_key_name"}
	var value func(depth int) any
	value = func(depth int) any {
		switch rng.IntN(7) {
		case 0:
			return nil
		case 1:
			return rng.IntN(2) == 0
		case 2:
			return rng.NormFloat64() * 1e6
		case 3:
			return float64(rng.IntN(100))
		case 4:
			return []string{"pro", "a\"b", "東京", "tab\there", "</script>", ""}[rng.IntN(6)]
		case 5:
			if depth < 2 {
				return []any{value(depth + 1), value(depth + 1)}
			}
		case 6:
			if depth < 2 {
				return map[string]any{"plan": value(depth + 1), "x": value(depth + 1)}
			}
		}
		return "s"
	}
	for range 2000 {
		doc := map[string]any{}
		for range rng.IntN(6) {
			doc[names[rng.IntN(len(names))]] = value(0)
		}
		data, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		keys := []string{names[rng.IntN(len(names))], names[rng.IntN(len(names))]}
		got, err := segment.DecodeTraits(data, keys)
		if err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if want := wantTraits(t, string(data), keys); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s keys %v: got %#v, want %#v", data, keys, got, want)
		}
	}
}

func BenchmarkDecodeTraits(b *testing.B) {
	doc := []byte(`{"plan":"pro","age":42,"city":"東京都"}`)
	keys := []string{"age", "city", "plan"}
	b.Run("DecodeTraits", func(b *testing.B) {
		for range b.N {
			if _, err := segment.DecodeTraits(doc, keys); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Unmarshal", func(b *testing.B) {
		for range b.N {
			var m map[string]any
			if err := json.Unmarshal(doc, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
