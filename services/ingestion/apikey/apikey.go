// Package apikey lets the other services authenticate API keys against
// ingestion, which owns workspaces and keys. It is deliberately tiny so a
// service importing it links nothing of ingestion but the generated client.
package apikey

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/platform/auth"
)

// RemoteVerifier verifies keys with ingestion's WorkspaceService. Wrap it in
// auth.NewCachingVerifier so a request costs no extra call.
type RemoteVerifier struct {
	client ingestionv1.WorkspaceServiceClient
}

var _ auth.Verifier = (*RemoteVerifier)(nil)

// NewRemoteVerifier returns a verifier calling ingestion over conn.
func NewRemoteVerifier(conn grpc.ClientConnInterface) *RemoteVerifier {
	return &RemoteVerifier{client: ingestionv1.NewWorkspaceServiceClient(conn)}
}

// VerifyKey returns the key's workspace, or auth.ErrUnauthenticated.
func (v *RemoteVerifier) VerifyKey(ctx context.Context, key string) (string, error) {
	resp, err := v.client.VerifyAPIKey(ctx, &ingestionv1.VerifyAPIKeyRequest{ApiKey: key})
	switch status.Code(err) {
	case codes.OK:
		return resp.GetWorkspaceId(), nil
	case codes.Unauthenticated, codes.InvalidArgument:
		return "", auth.ErrUnauthenticated
	default:
		return "", fmt.Errorf("verify api key with ingestion: %w", err)
	}
}
