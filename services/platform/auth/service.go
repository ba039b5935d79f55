package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc"
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
	return replaceBearer(ctx, s.Token(workspaceID))
}

// replaceBearer returns ctx whose outgoing calls carry "Bearer token",
// replacing any authorization set before.
func replaceBearer(ctx context.Context, token string) context.Context {
	md, _ := metadata.FromOutgoingContext(ctx)
	md = md.Copy()
	md.Set(MetadataKey, "Bearer "+token)
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

// Verifier returns a Verifier that accepts service tokens (with every
// scope) and hands every other key to next. A nil s returns next unchanged.
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

func (v serviceVerifier) VerifyKey(ctx context.Context, key string) (Principal, error) {
	if strings.HasPrefix(key, ServiceTokenPrefix) {
		// A service acts for the whole workspace: every scope.
		ws, err := v.tokens.Verify(key)
		if err != nil {
			return Principal{}, err
		}
		return AdminPrincipal(ws), nil
	}
	if v.next == nil {
		return Principal{}, ErrUnauthenticated
	}
	return v.next.VerifyKey(ctx, key)
}

// callerWorkspace is the workspace of CallerToken: no real workspace id
// has this form ("ws_…").
const callerWorkspace = "kizuna:service"

// CallerToken is the bearer token a service presents when it acts for no
// workspace: RemoteVerifier's calls to VerifyAPIKey.
func (s *ServiceTokens) CallerToken() string { return s.Token(callerWorkspace) }

// UnaryClientInterceptor makes the calls a service makes while handling an
// authenticated call carry a service token of the caller's workspace
// instead of the caller's own key: the service already checked the
// caller's scope for the method it was asked, and the peer's method may
// need another (a campaign launch reads segment members). Calls that set
// their own authorization, and calls outside a handler, are left alone
// (for ForwardUnaryClientInterceptor, which grpcclient.Dial runs after
// the interceptors it is given). A nil s leaves every call alone.
func (s *ServiceTokens) UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(s.actAsCaller(ctx), method, req, reply, cc, opts...)
	}
}

// StreamClientInterceptor is UnaryClientInterceptor for streaming calls.
func (s *ServiceTokens) StreamClientInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		return streamer(s.actAsCaller(ctx), desc, cc, method, opts...)
	}
}

func (s *ServiceTokens) actAsCaller(ctx context.Context) context.Context {
	if s == nil {
		return ctx
	}
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return ctx
	}
	if out, _ := metadata.FromOutgoingContext(ctx); len(out.Get(MetadataKey)) > 0 {
		return ctx // set on purpose
	}
	return s.Context(ctx, p.WorkspaceID)
}
