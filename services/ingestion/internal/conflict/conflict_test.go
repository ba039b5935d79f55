package conflict_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/kizuna/kizuna/services/ingestion/internal/conflict"
)

func TestError(t *testing.T) {
	err := fmt.Errorf("undo: %w", conflict.Errorf("MERGE_ALREADY_UNDONE", "merge %s is already undone", "mrg_1"))
	if !errors.Is(err, conflict.ErrConflict) {
		t.Errorf("errors.Is(%v, ErrConflict) = false", err)
	}
	var e *conflict.Error
	if !errors.As(err, &e) {
		t.Fatalf("errors.As(%v, *Error) = false", err)
	}
	if e.Reason != "MERGE_ALREADY_UNDONE" || e.Message != "merge mrg_1 is already undone" {
		t.Errorf("got %+v", *e)
	}
	if got := conflict.Reason(err); got != "MERGE_ALREADY_UNDONE" {
		t.Errorf("Reason = %q", got)
	}
	if got := conflict.Reason(errors.New("merge is already undone")); got != "" {
		t.Errorf("Reason of another error = %q, want none", got)
	}
	if errors.Is(errors.New("conflict"), conflict.ErrConflict) {
		t.Error("an unrelated error matches ErrConflict")
	}
}
