// Package secret encrypts the write-only secrets of channels (SMTP
// passwords, LINE tokens, webhook signing secrets) for storage, and derives
// keys for other purposes from the same master key.
//
// The master key comes from the environment (KIZUNA_SECRET_KEY) or a key
// file. It never encrypts anything itself: HKDF-SHA256 derives the
// AES-256-GCM key of the Box and every purpose key from it under distinct
// labels, so no two uses share a key.
//
// A sealed value is "v1:" followed by standard base64 of nonce (12 random
// bytes) || ciphertext || GCM tag. The associated data given to Seal (for
// example workspace and channel id) is authenticated but not stored: Open
// needs the same string, so a ciphertext copied into another row does not
// open.
package secret

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeyBytes is the length of a master key.
const KeyBytes = 32

// sealedPrefix starts every sealed value; it names the format, so a later
// one can be told apart.
const sealedPrefix = "v1:"

// nonceBytes is GCM's standard nonce length.
const nonceBytes = 12

// HKDF labels. Purpose keys get their own prefix, so no purpose can ever
// produce the sealing key.
const (
	sealLabel    = "kizuna secret box v1\x00seal"
	derivePrefix = "kizuna secret box v1\x00derive\x00"
)

// Errors of Open. Both are wrapped with detail; test with errors.Is.
var (
	// ErrMalformed is a value that is not a sealed v1 value at all.
	ErrMalformed = errors.New("secret: malformed sealed value")
	// ErrOpen is a well-formed value that fails authentication: another
	// key, other associated data, or a modified ciphertext.
	ErrOpen = errors.New("secret: cannot open sealed value (wrong key or associated data, or tampered)")
)

// Box seals and opens secrets with AES-256-GCM under a key derived from the
// master key. It is safe for concurrent use.
type Box struct {
	aead   cipher.AEAD
	master []byte
}

// NewBox returns a Box over a master key of exactly KeyBytes bytes.
func NewBox(key []byte) (*Box, error) {
	if len(key) != KeyBytes {
		return nil, fmt.Errorf("secret: key is %d bytes, want %d", len(key), KeyBytes)
	}
	master := bytes.Clone(key)
	sealKey := derive(master, sealLabel)
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	return &Box{aead: aead, master: master}, nil
}

// Seal encrypts plaintext bound to associated, with a fresh random nonce,
// and returns "v1:" + base64.
func (b *Box) Seal(plaintext string, associated string) (string, error) {
	out := make([]byte, nonceBytes, nonceBytes+len(plaintext)+b.aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return "", fmt.Errorf("secret: nonce: %w", err)
	}
	out = b.aead.Seal(out, out[:nonceBytes], []byte(plaintext), []byte(associated))
	return sealedPrefix + base64.StdEncoding.EncodeToString(out), nil
}

// Open decrypts a value from Seal. associated must be what Seal was given.
// It fails with ErrMalformed or ErrOpen.
func (b *Box) Open(sealed string, associated string) (string, error) {
	enc, ok := strings.CutPrefix(sealed, sealedPrefix)
	if !ok {
		return "", fmt.Errorf("%w: no %q prefix", ErrMalformed, sealedPrefix)
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return "", fmt.Errorf("%w: bad base64", ErrMalformed)
	}
	if len(raw) < nonceBytes+b.aead.Overhead() {
		return "", fmt.Errorf("%w: %d bytes is too short", ErrMalformed, len(raw))
	}
	plain, err := b.aead.Open(nil, raw[:nonceBytes], raw[nonceBytes:], []byte(associated))
	if err != nil {
		return "", ErrOpen
	}
	return string(plain), nil
}

// Derive returns a 32-byte key for purpose (e.g. "unsubscribe-token"),
// derived from the master key with HKDF-SHA256. The same master key and
// purpose always give the same key; different purposes give independent
// keys, none of them the sealing key.
func (b *Box) Derive(purpose string) []byte {
	return derive(b.master, derivePrefix+purpose)
}

func derive(master []byte, info string) []byte {
	k, err := hkdf.Key(sha256.New, master, nil, info, KeyBytes)
	if err != nil {
		// Only possible for an output longer than 255 hashes or, in
		// FIPS-only mode, a key under 112 bits; neither can happen here.
		panic("secret: hkdf: " + err.Error())
	}
	return k
}

// ParseKey decodes a master key written as base64 (standard or URL
// alphabet, padded or not) or as 64 hexadecimal characters. Surrounding
// white space (a trailing newline in a file) is ignored. Errors never
// repeat the input.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("secret: key is empty; want 32 bytes as base64 or 64 hex characters")
	}
	if len(s) == 2*KeyBytes {
		if k, err := hex.DecodeString(s); err == nil {
			return k, nil
		}
	}
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		k, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(k) != KeyBytes {
			return nil, fmt.Errorf("secret: key decodes to %d bytes, want %d (generate one with `openssl rand -base64 32`)", len(k), KeyBytes)
		}
		return k, nil
	}
	return nil, fmt.Errorf("secret: key (%d characters) is neither base64 nor 64 hex characters; want 32 bytes, e.g. from `openssl rand -base64 32`", len(s))
}

// LoadOrCreateKeyFile returns the master key in the file at path (in any
// form ParseKey reads). When the file does not exist it creates it with a
// new random key in base64, mode 0600, creating its directory (0700) if
// needed. The file is written under a temporary name and then linked into
// place, so no reader ever sees a partial key, and when two processes race
// to create it, both end up with the one key that won.
func LoadOrCreateKeyFile(path string) ([]byte, error) {
	if k, err := readKeyFile(path); !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}

	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("secret: create key directory: %w", err)
	}
	key := make([]byte, KeyBytes)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("secret: generate key: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("secret: create key file: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // after a successful link or rename it is gone or a second name
	if err := writeKey(tmp, key); err != nil {
		return nil, fmt.Errorf("secret: write key file: %w", err)
	}

	// A hard link fails if path appeared meanwhile, unlike rename, which
	// would replace a key another process may already have used.
	switch err := os.Link(tmpName, path); {
	case err == nil:
	case errors.Is(err, fs.ErrExist):
		return readKeyFile(path)
	default:
		// No hard links on this file system: fall back to rename.
		if err := os.Rename(tmpName, path); err != nil {
			return nil, fmt.Errorf("secret: install key file: %w", err)
		}
	}
	syncDir(dir)
	return key, nil
}

// writeKey writes key in base64 to f with mode 0600 and closes it.
func writeKey(f *os.File, key []byte) error {
	err := f.Chmod(0o600)
	if err == nil {
		_, err = f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	}
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("secret: read key file: %w", err)
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// syncDir makes a new directory entry durable; best effort, as not every
// platform can sync a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}
