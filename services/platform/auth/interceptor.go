package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kizuna/kizuna/services/platform/internal/streamctx"
)

// MetadataKey is the gRPC metadata key carrying "Bearer <key>".
const MetadataKey = "authorization"

// BearerFromMetadata returns the API key from "authorization: Bearer <key>"
// in md, or ErrUnauthenticated.
func BearerFromMetadata(md metadata.MD) (string, error) {
	vals := md.Get(MetadataKey)
	if len(vals) != 1 {
		return "", fmt.Errorf("%w: want exactly one authorization header, got %d", ErrUnauthenticated, len(vals))
	}
	scheme, key, ok := strings.Cut(vals[0], " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(key) == "" {
		return "", fmt.Errorf("%w: authorization is not \"Bearer <key>\"", ErrUnauthenticated)
	}
	return strings.TrimSpace(key), nil
}

// IsStandardPublicMethod reports whether fullMethod belongs to the gRPC
// health or reflection services, which probes and tools call without a key.
func IsStandardPublicMethod(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.v1.ServerReflection/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.v1alpha.ServerReflection/")
}

// authorize verifies the key in ctx's incoming metadata, checks that it
// holds a scope scopes names for fullMethod, and returns ctx carrying the
// principal. v may be nil, which rejects every call: a server without a
// verifier fails closed; so does a method missing from scopes.
func authorize(ctx context.Context, v Verifier, scopes ScopeTable, fullMethod string) (context.Context, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	key, err := BearerFromMetadata(md)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, "missing or malformed API key")
	}
	if v == nil {
		return nil, status.Error(codes.Unauthenticated, "authentication not configured")
	}
	p, err := v.VerifyKey(ctx, key)
	switch {
	case err == nil && p.WorkspaceID != "":
		if err := scopes.Check(p, fullMethod); err != nil {
			return nil, err
		}
		return WithPrincipal(ctx, p), nil
	case err == nil, errors.Is(err, ErrUnauthenticated):
		return nil, status.Error(codes.Unauthenticated, "invalid API key")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return nil, status.FromContextError(err).Err()
	default:
		return nil, &verifyError{cause: err}
	}
}

// verifyError reports a verifier failure to the client as a generic
// Unavailable while keeping the cause in Error() for the server's log.
type verifyError struct{ cause error }

func (e *verifyError) Error() string { return "verify api key: " + e.cause.Error() }
func (e *verifyError) Unwrap() error { return e.cause }
func (e *verifyError) GRPCStatus() *status.Status {
	return status.New(codes.Unavailable, "cannot verify API key; retry later")
}

// isPublic combines the standard public methods with the caller's.
func isPublic(public func(string) bool, fullMethod string) bool {
	return IsStandardPublicMethod(fullMethod) || (public != nil && public(fullMethod))
}

// UnaryServerInterceptor authenticates every unary call except public ones
// (health, reflection, and those public reports true for; public may be
// nil) and lets it through only when the key holds a scope scopes names for
// the method: PermissionDenied `API key lacks scope "…"` otherwise, and for
// every method scopes does not list. Authenticated handlers find the
// workspace with WorkspaceID and the scopes with PrincipalFrom.
func UnaryServerInterceptor(v Verifier, public func(fullMethod string) bool, scopes ScopeTable) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if isPublic(public, info.FullMethod) {
			return handler(ctx, req)
		}
		ctx, err := authorize(ctx, v, scopes, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor is UnaryServerInterceptor for streaming calls.
func StreamServerInterceptor(v Verifier, public func(fullMethod string) bool, scopes ScopeTable) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if isPublic(public, info.FullMethod) {
			return handler(srv, ss)
		}
		ctx, err := authorize(ss.Context(), v, scopes, info.FullMethod)
		if err != nil {
			return err
		}
		return handler(srv, streamctx.Wrap(ss, ctx))
	}
}

// ForwardUnaryClientInterceptor copies the incoming call's authorization
// metadata onto outgoing calls, so a service calling another acts as the
// same workspace. Calls that already set authorization keep theirs.
func ForwardUnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(forward(ctx), method, req, reply, cc, opts...)
	}
}

// ForwardStreamClientInterceptor is ForwardUnaryClientInterceptor for
// streaming calls.
func ForwardStreamClientInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		return streamer(forward(ctx), desc, cc, method, opts...)
	}
}

func forward(ctx context.Context) context.Context {
	if out, ok := metadata.FromOutgoingContext(ctx); ok && len(out.Get(MetadataKey)) > 0 {
		return ctx
	}
	in, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ctx
	}
	vals := in.Get(MetadataKey)
	if len(vals) == 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, MetadataKey, vals[0])
}

// WithBearer returns ctx with outgoing metadata "authorization: Bearer key",
// for clients calling a Kizuna service directly.
func WithBearer(ctx context.Context, key string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, MetadataKey, "Bearer "+key)
}
