package validation

import "testing"

func TestError(t *testing.T) {
	e := &Error{}
	if e.Err() != nil {
		t.Fatal("an empty Error must be no error")
	}
	e.Add("a", "is required")
	e.Addf("b[2]", "must be at most %d", 3)
	if got, want := e.Err().Error(), "invalid argument: a: is required; b[2]: must be at most 3"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	for range 2 * MaxViolations {
		e.Add("x", "y")
	}
	if len(e.Violations) != MaxViolations {
		t.Errorf("kept %d violations, want %d", len(e.Violations), MaxViolations)
	}
}
