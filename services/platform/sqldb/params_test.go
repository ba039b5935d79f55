package sqldb

import (
	"reflect"
	"testing"
)

func TestPlaceholders(t *testing.T) {
	if got := Placeholders(3, 0); got != "" {
		t.Errorf("Placeholders(3, 0) = %q", got)
	}
	in, args := InList(2, []string{"a", "b", "c"})
	if in != "$2, $3, $4" || !reflect.DeepEqual(args, []any{"a", "b", "c"}) {
		t.Errorf("InList = %q, %v", in, args)
	}
}
