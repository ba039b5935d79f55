package segment

import (
	"reflect"
	"testing"
	"time"
)

func TestMergeTraits(t *testing.T) {
	tests := []struct {
		name      string
		traits    map[string]any
		times     map[string]int64
		incoming  map[string]any
		at        int64
		want      map[string]any
		wantTimes map[string]int64
	}{
		{
			name: "newer value wins, new key added", traits: map[string]any{"plan": "free"}, times: map[string]int64{"plan": 10},
			incoming: map[string]any{"plan": "pro", "city": "Nara"}, at: 20,
			want: map[string]any{"plan": "pro", "city": "Nara"}, wantTimes: map[string]int64{"plan": 20, "city": 20},
		},
		{
			name: "older value loses per key only", traits: map[string]any{"plan": "pro"}, times: map[string]int64{"plan": 20},
			incoming: map[string]any{"plan": "free", "city": "Nara"}, at: 10,
			want: map[string]any{"plan": "pro", "city": "Nara"}, wantTimes: map[string]int64{"plan": 20, "city": 10},
		},
		{
			name: "tie goes to the incoming value", traits: map[string]any{"plan": "a"}, times: map[string]int64{"plan": 10},
			incoming: map[string]any{"plan": "b"}, at: 10,
			want: map[string]any{"plan": "b"}, wantTimes: map[string]int64{"plan": 10},
		},
		{
			name: "nothing incoming", traits: map[string]any{"plan": "a"}, times: map[string]int64{"plan": 10},
			want: map[string]any{"plan": "a"}, wantTimes: map[string]int64{"plan": 10},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			MergeTraits(tt.traits, tt.times, tt.incoming, tt.at)
			if !reflect.DeepEqual(tt.traits, tt.want) || !reflect.DeepEqual(tt.times, tt.wantTimes) {
				t.Errorf("got %v %v, want %v %v", tt.traits, tt.times, tt.want, tt.wantTimes)
			}
		})
	}
}

func TestMergeCustomer(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	into := Customer{
		Traits: map[string]any{"plan": "pro", "a": 1.0}, TraitTimes: map[string]int64{"plan": 20, "a": 5},
		FirstSeen: t0.Add(time.Hour), LastSeen: t0.Add(2 * time.Hour), EventCount: 2,
	}
	from := Customer{
		Traits: map[string]any{"plan": "free", "a": 2.0, "b": true}, TraitTimes: map[string]int64{"plan": 10, "a": 6, "b": 1},
		FirstSeen: t0, LastSeen: t0.Add(time.Hour), EventCount: 3,
	}
	MergeCustomer(&into, from)
	want := Customer{
		Traits: map[string]any{"plan": "pro", "a": 2.0, "b": true}, TraitTimes: map[string]int64{"plan": 20, "a": 6, "b": 1},
		FirstSeen: t0, LastSeen: t0.Add(2 * time.Hour), EventCount: 5,
	}
	if !reflect.DeepEqual(into, want) {
		t.Errorf("merged = %+v\nwant %+v", into, want)
	}
	// Into an empty survivor (not seen before the merge).
	var empty Customer
	MergeCustomer(&empty, from)
	if !empty.FirstSeen.Equal(t0) || empty.EventCount != 3 || empty.Traits["plan"] != "free" {
		t.Errorf("merged into empty = %+v", empty)
	}
}
