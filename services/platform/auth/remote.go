package auth

// The services other than ingestion authenticate API keys against it
// (ingestion owns workspaces and keys) through the generated
// WorkspaceService client only, so no service links ingestion's code.

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
)

// Cache lifetimes of NewCachedRemoteVerifier. A revoked key keeps working
// for up to CacheTTL on the services that verify keys with ingestion.
const (
	CacheTTL         = 30 * time.Second
	CacheNegativeTTL = 2 * time.Second
)

// NewCachedRemoteVerifier is how services other than ingestion
// authenticate API keys: a RemoteVerifier over conn behind
// NewCachingVerifier with CacheTTL and CacheNegativeTTL, so most
// requests cost no call to ingestion. tokens may be nil (see
// NewRemoteVerifier).
func NewCachedRemoteVerifier(conn grpc.ClientConnInterface, tokens *ServiceTokens) Verifier {
	return NewCachingVerifier(NewRemoteVerifier(conn, tokens), CacheTTL, CacheNegativeTTL)
}

// RemoteVerifier verifies keys with ingestion's WorkspaceService. Use
// NewCachedRemoteVerifier unless every request should cost a call.
type RemoteVerifier struct {
	client ingestionv1.WorkspaceServiceClient
	tokens *ServiceTokens
}

var _ Verifier = (*RemoteVerifier)(nil)

// NewRemoteVerifier returns a verifier calling ingestion over conn. It
// presents tokens' CallerToken, which VerifyAPIKey requires in a deployment
// with a service secret; with tokens nil (no secret) it presents the key
// being verified, the one bearer VerifyAPIKey then accepts.
func NewRemoteVerifier(conn grpc.ClientConnInterface, tokens *ServiceTokens) *RemoteVerifier {
	return &RemoteVerifier{client: ingestionv1.NewWorkspaceServiceClient(conn), tokens: tokens}
}

// VerifyKey returns the key's workspace and scopes, or ErrUnauthenticated.
func (v *RemoteVerifier) VerifyKey(ctx context.Context, key string) (Principal, error) {
	bearer := key
	if v.tokens != nil {
		bearer = v.tokens.CallerToken()
	}
	resp, err := v.client.VerifyAPIKey(replaceBearer(ctx, bearer), &ingestionv1.VerifyAPIKeyRequest{ApiKey: key})
	switch status.Code(err) {
	case codes.OK:
		return Principal{WorkspaceID: resp.GetWorkspaceId(), Scopes: resp.GetScopes()}, nil
	case codes.Unauthenticated, codes.InvalidArgument:
		return Principal{}, ErrUnauthenticated
	default:
		return Principal{}, fmt.Errorf("verify api key with ingestion: %w", err)
	}
}
