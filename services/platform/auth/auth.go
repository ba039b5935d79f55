// Package auth authenticates gRPC calls by workspace API key: a key in the
// metadata "authorization: Bearer <key>" is verified into a workspace id
// that travels in the context to handlers. Keys are stored only as
// HashKey digests.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrUnauthenticated means the key is missing, malformed, unknown or
// revoked. Verifiers return it (possibly wrapped) for every such case so
// callers cannot probe which one applied.
var ErrUnauthenticated = errors.New("unauthenticated")

// Verifier resolves an API key to the workspace it belongs to and the
// scopes it holds. Ingestion implements it over its key table; other
// services use a remote or cached one. Errors other than
// ErrUnauthenticated mean verification could not be done (e.g. a store
// outage).
type Verifier interface {
	VerifyKey(ctx context.Context, key string) (Principal, error)
}

// StaticKeys is a Verifier over a fixed key → workspace id map, for tests
// and single-user development setups. Every key holds every scope.
type StaticKeys map[string]string

var _ Verifier = StaticKeys(nil)

// VerifyKey implements Verifier.
func (s StaticKeys) VerifyKey(_ context.Context, key string) (Principal, error) {
	ws, ok := s[key]
	if !ok || key == "" {
		return Principal{}, ErrUnauthenticated
	}
	return AdminPrincipal(ws), nil
}

// ScopedKeys is a Verifier over a fixed key → principal map, for tests.
type ScopedKeys map[string]Principal

var _ Verifier = ScopedKeys(nil)

// VerifyKey implements Verifier.
func (s ScopedKeys) VerifyKey(_ context.Context, key string) (Principal, error) {
	p, ok := s[key]
	if !ok || key == "" {
		return Principal{}, ErrUnauthenticated
	}
	return p, nil
}

// KeyPrefix starts every key NewKey makes, so leaked keys are easy to
// recognise in logs and by secret scanners.
const KeyPrefix = "kz_"

const keyAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// keyRandomChars gives 32·log2(62) ≈ 190 bits of entropy.
const keyRandomChars = 32

// NewKey returns a new random API key. Show it to the user once and store
// only HashKey(key).
func NewKey() (string, error) {
	b := make([]byte, 0, len(KeyPrefix)+keyRandomChars)
	b = append(b, KeyPrefix...)
	limit := big.NewInt(int64(len(keyAlphabet)))
	for range keyRandomChars {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return "", fmt.Errorf("new api key: %w", err)
		}
		b = append(b, keyAlphabet[n.Int64()])
	}
	return string(b), nil
}

// HashKey returns the hex SHA-256 of key, the form keys are stored and
// looked up in. A plain hash suffices: keys are long random strings, not
// guessable passwords, and lookups must be fast and deterministic.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// WithWorkspace returns ctx carrying the authenticated workspace id, with
// every scope (for tests and work acting as a whole workspace).
func WithWorkspace(ctx context.Context, workspaceID string) context.Context {
	return WithPrincipal(ctx, AdminPrincipal(workspaceID))
}

// WorkspaceID returns the authenticated workspace id in ctx.
func WorkspaceID(ctx context.Context) (string, bool) {
	p, ok := PrincipalFrom(ctx)
	return p.WorkspaceID, ok
}

// RequireWorkspace returns the authenticated workspace id in ctx, or
// Unauthenticated. The interceptor rejects unauthenticated calls before a
// handler runs; this guards handlers against a server wired without it.
func RequireWorkspace(ctx context.Context) (string, error) {
	ws, ok := WorkspaceID(ctx)
	if !ok {
		return "", status.Error(codes.Unauthenticated, "missing workspace credentials")
	}
	return ws, nil
}
