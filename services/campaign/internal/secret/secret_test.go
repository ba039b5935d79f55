package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// testKey has bytes whose base64 uses '+' and '/' (std) or '-' and '_'
// (URL), so the alphabets are told apart.
var testKey = func() []byte {
	k := make([]byte, KeyBytes)
	for i := range k {
		k[i] = byte(0xf8 + i*7)
	}
	return k
}()

func newBox(t *testing.T, key []byte) *Box {
	t.Helper()
	b, err := NewBox(key)
	if err != nil {
		t.Fatalf("NewBox: %v", err)
	}
	return b
}

func TestSealOpenRoundTrip(t *testing.T) {
	b := newBox(t, testKey)
	const ad = "ws_1/ch_1"
	for _, plain := range []string{
		"", "hunter2", "チャネルアクセストークン：秘密の値🔑", strings.Repeat("x", 100_000), "\x00\xff binary",
	} {
		sealed, err := b.Seal(plain, ad)
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		if !strings.HasPrefix(sealed, "v1:") {
			t.Fatalf("sealed %q lacks the v1: prefix", sealed)
		}
		if len(plain) > 4 && strings.Contains(sealed, plain) {
			t.Fatalf("sealed value contains the plaintext")
		}
		got, err := b.Open(sealed, ad)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if got != plain {
			t.Fatalf("Open = %q, want %q", got, plain)
		}
		// Another Box over the same key opens it too (e.g. after a restart).
		if got, err := newBox(t, testKey).Open(sealed, ad); err != nil || got != plain {
			t.Fatalf("Open with a new Box = %q, %v", got, err)
		}
	}
}

func TestSealUsesFreshNonces(t *testing.T) {
	b := newBox(t, testKey)
	seen := map[string]bool{}
	for range 100 {
		s, err := b.Seal("same", "ad")
		if err != nil {
			t.Fatal(err)
		}
		if seen[s] {
			t.Fatalf("Seal repeated %q", s)
		}
		seen[s] = true
	}
}

func TestOpenFailures(t *testing.T) {
	b := newBox(t, testKey)
	sealed, err := b.Seal("秘密のトークン", "ws_1/ch_1")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sealed, "v1:"))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) string {
		c := bytes.Clone(raw)
		c[i] ^= 0x01
		return "v1:" + base64.StdEncoding.EncodeToString(c)
	}
	otherKey := bytes.Clone(testKey)
	otherKey[0] ^= 0x80

	tests := []struct {
		name   string
		box    *Box
		sealed string
		ad     string
		want   error
	}{
		{"other row", b, sealed, "ws_1/ch_2", ErrOpen},
		{"other workspace", b, sealed, "ws_2/ch_1", ErrOpen},
		{"no associated data", b, sealed, "", ErrOpen},
		{"tampered nonce", b, flip(0), "ws_1/ch_1", ErrOpen},
		{"tampered ciphertext", b, flip(nonceBytes + 1), "ws_1/ch_1", ErrOpen},
		{"tampered tag", b, flip(len(raw) - 1), "ws_1/ch_1", ErrOpen},
		{"truncated", b, "v1:" + base64.StdEncoding.EncodeToString(raw[:len(raw)-1]), "ws_1/ch_1", ErrOpen},
		{"wrong key", newBox(t, otherKey), sealed, "ws_1/ch_1", ErrOpen},
		{"no prefix", b, strings.TrimPrefix(sealed, "v1:"), "ws_1/ch_1", ErrMalformed},
		{"other version", b, "v2:" + strings.TrimPrefix(sealed, "v1:"), "ws_1/ch_1", ErrMalformed},
		{"bad base64", b, "v1:not base64!", "ws_1/ch_1", ErrMalformed},
		{"too short", b, "v1:" + base64.StdEncoding.EncodeToString(raw[:nonceBytes+15]), "ws_1/ch_1", ErrMalformed},
		{"plaintext", b, "hunter2", "", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.box.Open(tt.sealed, tt.ad)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open = %q, %v; want %v", got, err, tt.want)
			}
			if got != "" {
				t.Errorf("Open returned %q with an error", got)
			}
		})
	}
}

func TestNewBoxKeyLength(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := NewBox(make([]byte, n)); err == nil {
			t.Errorf("NewBox accepted a %d-byte key", n)
		}
	}
	// The Box keeps its own copy: changing the caller's slice changes nothing.
	k := bytes.Clone(testKey)
	b := newBox(t, k)
	sealed, _ := b.Seal("x", "")
	k[0] ^= 0xff
	if _, err := b.Open(sealed, ""); err != nil {
		t.Fatalf("Box depends on the caller's key slice: %v", err)
	}
	if got := b.Derive("p"); !bytes.Equal(got, newBox(t, testKey).Derive("p")) {
		t.Fatalf("Derive depends on the caller's key slice")
	}
}

func TestDerive(t *testing.T) {
	b := newBox(t, testKey)
	unsub := b.Derive("unsubscribe-token")
	if len(unsub) != 32 {
		t.Fatalf("Derive length = %d", len(unsub))
	}
	if !bytes.Equal(unsub, newBox(t, testKey).Derive("unsubscribe-token")) {
		t.Error("Derive is not deterministic")
	}
	if bytes.Equal(unsub, b.Derive("unsubscribe-token2")) || bytes.Equal(unsub, b.Derive("")) {
		t.Error("different purposes derive the same key")
	}
	if bytes.Equal(unsub, testKey) {
		t.Error("Derive returned the master key")
	}
	otherKey := bytes.Clone(testKey)
	otherKey[31] ^= 1
	if bytes.Equal(unsub, newBox(t, otherKey).Derive("unsubscribe-token")) {
		t.Error("different master keys derive the same key")
	}
	// The caller may scribble on what it got.
	unsub[0] ^= 0xff
	if bytes.Equal(unsub, b.Derive("unsubscribe-token")) {
		t.Error("Derive returns shared storage")
	}
}

func TestParseKey(t *testing.T) {
	std := base64.StdEncoding.EncodeToString(testKey)
	url := base64.URLEncoding.EncodeToString(testKey)
	if !strings.ContainsAny(std, "+/") || !strings.ContainsAny(url, "-_") {
		t.Fatalf("test key does not exercise both alphabets: %s %s", std, url)
	}
	valid := map[string]string{
		"std padded":    std,
		"std unpadded":  base64.RawStdEncoding.EncodeToString(testKey),
		"url padded":    url,
		"url unpadded":  base64.RawURLEncoding.EncodeToString(testKey),
		"hex lower":     hex.EncodeToString(testKey),
		"hex upper":     strings.ToUpper(hex.EncodeToString(testKey)),
		"with newline":  std + "\n",
		"with spaces":   "  " + hex.EncodeToString(testKey) + " \r\n",
		"unpadded + nl": base64.RawURLEncoding.EncodeToString(testKey) + "\n",
	}
	for name, s := range valid {
		t.Run(name, func(t *testing.T) {
			k, err := ParseKey(s)
			if err != nil {
				t.Fatalf("ParseKey(%q): %v", s, err)
			}
			if !bytes.Equal(k, testKey) {
				t.Fatalf("ParseKey(%q) = %x, want %x", s, k, testKey)
			}
		})
	}

	invalid := map[string]string{
		"empty":          "",
		"blank":          " \n",
		"31 bytes b64":   base64.StdEncoding.EncodeToString(testKey[:31]),
		"33 bytes b64":   base64.StdEncoding.EncodeToString(append(bytes.Clone(testKey), 1)),
		"16 bytes hex":   hex.EncodeToString(testKey[:16]),
		"63 hex chars":   hex.EncodeToString(testKey)[:63],
		"65 hex chars":   hex.EncodeToString(testKey) + "a",
		"garbage":        "this is not a key at all!",
		"mixed":          std[:20] + "-" + std[21:],
		"passphrase-ish": "correct horse battery staple",
	}
	for name, s := range invalid {
		t.Run(name, func(t *testing.T) {
			k, err := ParseKey(s)
			if err == nil {
				t.Fatalf("ParseKey(%q) = %x, want an error", s, k)
			}
			if !strings.Contains(err.Error(), "32 bytes") && !strings.Contains(err.Error(), "want 32") {
				t.Errorf("error %q does not say what a key must be", err)
			}
			if len(strings.TrimSpace(s)) > 8 && strings.Contains(err.Error(), strings.TrimSpace(s)) {
				t.Errorf("error %q repeats the input", err)
			}
		})
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "keys")
	path := filepath.Join(dir, "secret.key")

	k1, err := LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if len(k1) != KeyBytes || bytes.Equal(k1, make([]byte, KeyBytes)) {
		t.Fatalf("created key = %x", k1)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("key file mode = %o, want 600", mode)
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if mode := di.Mode().Perm(); mode != 0o700 {
		t.Errorf("key directory mode = %o, want 700", mode)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only the key file", names)
	}
	content, _ := os.ReadFile(path)
	if parsed, err := ParseKey(string(content)); err != nil || !bytes.Equal(parsed, k1) {
		t.Errorf("file content does not parse to the key: %v", err)
	}

	k2, err := LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if !bytes.Equal(k1, k2) {
		t.Fatalf("second call returned another key")
	}
	// And the key works: sealed with the first, opened with the second.
	sealed, _ := newBox(t, k1).Seal("x", "ad")
	if _, err := newBox(t, k2).Open(sealed, "ad"); err != nil {
		t.Fatal(err)
	}
}

func TestLoadOrCreateKeyFileReadsExisting(t *testing.T) {
	dir := t.TempDir()
	hexPath := filepath.Join(dir, "hex.key")
	if err := os.WriteFile(hexPath, []byte(hex.EncodeToString(testKey)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	k, err := LoadOrCreateKeyFile(hexPath)
	if err != nil || !bytes.Equal(k, testKey) {
		t.Fatalf("LoadOrCreateKeyFile(hex) = %x, %v", k, err)
	}

	badPath := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(badPath, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateKeyFile(badPath); err == nil || !strings.Contains(err.Error(), badPath) {
		t.Fatalf("bad key file: err = %v, want one naming the file", err)
	}
	if b, _ := os.ReadFile(badPath); string(b) != "short" {
		t.Fatal("a bad key file was overwritten")
	}
}

func TestLoadOrCreateKeyFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	const n = 16
	keys := make([][]byte, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = LoadOrCreateKeyFile(path) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if !bytes.Equal(keys[i], keys[0]) {
			t.Fatalf("concurrent callers got different keys")
		}
	}
	onDisk, err := LoadOrCreateKeyFile(path)
	if err != nil || !bytes.Equal(onDisk, keys[0]) {
		t.Fatalf("the file holds another key than the callers got")
	}
}
