package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/metadata"
)

// ServiceTokenPrefix starts every service token.
const ServiceTokenPrefix = "kzsvc_"

// MinServiceSecretBytes is the shortest secret NewServiceTokens accepts.
const MinServiceSecretBytes = 32

// ServiceTokens lets a service act as a workspace in work no caller started
// (a journey step due at 3 a.m., a LINE webhook): it mints a bearer token
// for one workspace from a secret every service of a deployment shares, and
// verifies such tokens without asking ingestion. A token names its
// workspace and carries an HMAC of it, so it cannot be forged or moved to
// another workspace without the secret.
type ServiceTokens struct {
	secret []byte
}

// NewServiceTokens returns ServiceTokens over secret (at least
// MinServiceSecretBytes long).
func NewServiceTokens(secret []byte) (*ServiceTokens, error) {
	if len(secret) < MinServiceSecretBytes {
		return nil, fmt.Errorf("service secret is %d bytes, want at least %d", len(secret), MinServiceSecretBytes)
	}
	return &ServiceTokens{secret: append([]byte(nil), secret...)}, nil
}

// Token returns the bearer token acting as workspaceID.
func (s *ServiceTokens) Token(workspaceID string) string {
	ws := base64.RawURLEncoding.EncodeToString([]byte(workspaceID))
	return ServiceTokenPrefix + ws + "." + base64.RawURLEncoding.EncodeToString(s.mac(workspaceID))
}

// Context returns ctx whose outgoing calls authenticate as workspaceID,
// replacing any authorization forwarded from an incoming call.
func (s *ServiceTokens) Context(ctx context.Context, workspaceID string) context.Context {
	md, _ := metadata.FromOutgoingContext(ctx)
	md = md.Copy()
	md.Set(MetadataKey, "Bearer "+s.Token(workspaceID))
	return metadata.NewOutgoingContext(ctx, md)
}

// Verify returns the workspace a service token acts as, or
// ErrUnauthenticated.
func (s *ServiceTokens) Verify(token string) (string, error) {
	rest, ok := strings.CutPrefix(token, ServiceTokenPrefix)
	if !ok {
		return "", fmt.Errorf("%w: not a service token", ErrUnauthenticated)
	}
	wsPart, macPart, ok := strings.Cut(rest, ".")
	if !ok {
		return "", fmt.Errorf("%w: malformed service token", ErrUnauthenticated)
	}
	ws, err1 := base64.RawURLEncoding.DecodeString(wsPart)
	mac, err2 := base64.RawURLEncoding.DecodeString(macPart)
	if err := errors.Join(err1, err2); err != nil || len(ws) == 0 {
		return "", fmt.Errorf("%w: malformed service token", ErrUnauthenticated)
	}
	if !hmac.Equal(mac, s.mac(string(ws))) {
		return "", fmt.Errorf("%w: bad service token", ErrUnauthenticated)
	}
	return string(ws), nil
}

func (s *ServiceTokens) mac(workspaceID string) []byte {
	h := hmac.New(sha256.New, s.secret)
	h.Write([]byte("kizuna service token v1\x00"))
	h.Write([]byte(workspaceID))
	return h.Sum(nil)
}

// Verifier returns a Verifier that accepts service tokens and hands every
// other key to next. A nil s returns next unchanged.
func (s *ServiceTokens) Verifier(next Verifier) Verifier {
	if s == nil {
		return next
	}
	return serviceVerifier{tokens: s, next: next}
}

type serviceVerifier struct {
	tokens *ServiceTokens
	next   Verifier
}

func (v serviceVerifier) VerifyKey(ctx context.Context, key string) (string, error) {
	if strings.HasPrefix(key, ServiceTokenPrefix) {
		return v.tokens.Verify(key)
	}
	if v.next == nil {
		return "", ErrUnauthenticated
	}
	return v.next.VerifyKey(ctx, key)
}
