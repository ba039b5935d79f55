package unsub

import (
	"errors"
	"strings"
	"testing"
)

func TestTokens(t *testing.T) {
	s, err := NewSigner([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewSigner([]byte(strings.Repeat("x", 32)))
	want := Claims{WorkspaceID: "ws_1", CustomerID: "cus_1", ChannelType: "email", SendID: "snd_1"}
	tok := s.Token(want)
	got, err := s.Parse(tok)
	if err != nil || got != want {
		t.Fatalf("Parse = %+v, %v; want %+v", got, err, want)
	}
	forged := s.Token(Claims{WorkspaceID: "ws_1", CustomerID: "cus_2", ChannelType: "email"})
	swapped := strings.Split(forged, ".")[0] + "." + strings.Split(tok, ".")[1]
	for name, bad := range map[string]string{
		"other key":   other.Token(want),
		"swapped mac": swapped,
		"no dot":      "abc",
		"empty":       "",
		"too long":    strings.Repeat("a", MaxTokenBytes+1),
		"bad base64":  "!!.!!",
	} {
		if _, err := s.Parse(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Parse err = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := NewSigner([]byte("short")); err == nil {
		t.Error("NewSigner accepted a short key")
	}
}
