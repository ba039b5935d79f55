package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
	"github.com/kizuna/kizuna/services/ingestion/internal/workspace"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpcstatus"
	"github.com/kizuna/kizuna/services/platform/validation"
)

// maxKeyDisplayName bounds an API key's display name, in characters.
const maxKeyDisplayName = 200

// keyPrefixLen is how much of a key ListAPIKeys shows: "kz_" and four
// random characters, too few to guess the rest from.
const keyPrefixLen = len(auth.KeyPrefix) + 4

func keyPrefix(key string) string {
	if len(key) <= keyPrefixLen {
		return ""
	}
	return key[:keyPrefixLen]
}

// VerifyAPIKey is for Kizuna's services, which authenticate their callers
// with it: the bearer must be a service token (every deployment but
// separately started binaries without -service-secret has them), or the
// very key being verified, which learns only its own workspace and scopes,
// nothing a call of its own would not tell (the console signs in so, and
// services without a secret verify so). Nobody can use it to probe other
// keys.
func (w *workspaceServer) VerifyAPIKey(ctx context.Context, req *ingestionv1.VerifyAPIKeyRequest) (*ingestionv1.VerifyAPIKeyResponse, error) {
	caller := bearer(ctx)
	if caller == "" {
		return nil, status.Error(codes.Unauthenticated, "missing or malformed API key")
	}
	self := subtle.ConstantTimeCompare([]byte(caller), []byte(req.GetApiKey())) == 1
	if !self && !w.s.isServiceToken(caller) {
		return nil, status.Error(codes.PermissionDenied, "VerifyAPIKey is for Kizuna's services: the bearer must be a service token (or the key being verified)")
	}
	if req.GetApiKey() == "" {
		return nil, grpcstatus.Invalid("api_key", "is required")
	}
	p, err := w.s.store.VerifyKey(ctx, req.GetApiKey())
	if errors.Is(err, auth.ErrUnauthenticated) {
		return nil, status.Error(codes.Unauthenticated, "unknown API key")
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &ingestionv1.VerifyAPIKeyResponse{WorkspaceId: p.WorkspaceID, Scopes: p.Scopes}, nil
}

// isServiceToken reports whether token is a valid service token of the
// deployment; none is without a service secret.
func (s *Server) isServiceToken(token string) bool {
	if s.tokens == nil {
		return false
	}
	_, err := s.tokens.Verify(token)
	return err == nil
}

func (w *workspaceServer) CreateAPIKey(ctx context.Context, req *ingestionv1.CreateAPIKeyRequest) (*ingestionv1.CreateAPIKeyResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	k, err := checkAPIKey(req.GetApiKey())
	if err != nil {
		return nil, err
	}
	key, err := auth.NewKey()
	if err != nil {
		return nil, toStatus(err)
	}
	k.ID, k.WorkspaceID, k.Prefix, k.CreateTime = ingest.NewID("key"), ws, keyPrefix(key), w.s.now().UTC()
	if err := w.s.store.CreateAPIKey(ctx, k, auth.HashKey(key)); err != nil {
		return nil, toStatus(err)
	}
	return &ingestionv1.CreateAPIKeyResponse{ApiKey: apiKeyProto(k), Key: key}, nil
}

// checkAPIKey validates a requested key: a display name of at most
// maxKeyDisplayName characters, a kind, and scopes that fit it (a write
// key: none or "track"; a secret key: one or more known scopes).
func checkAPIKey(pb *ingestionv1.APIKey) (workspace.APIKey, error) {
	if pb == nil {
		return workspace.APIKey{}, grpcstatus.Invalid("api_key", "is required")
	}
	var v validation.Error
	name := strings.TrimSpace(pb.GetDisplayName())
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		v.Add("api_key.display_name", "is required")
	case n > maxKeyDisplayName:
		v.Addf("api_key.display_name", "is %d characters, at most %d", n, maxKeyDisplayName)
	case !utf8.ValidString(name) || strings.ContainsRune(name, 0):
		v.Add("api_key.display_name", "must be valid UTF-8 without NUL")
	}
	k := workspace.APIKey{DisplayName: name}
	switch pb.GetKind() {
	case ingestionv1.APIKeyKind_API_KEY_KIND_WRITE:
		k.Kind, k.Scopes = workspace.KeyKindWrite, []string{auth.ScopeTrack}
		for i, s := range pb.GetScopes() {
			if s != auth.ScopeTrack {
				v.Addf(fmt.Sprintf("api_key.scopes[%d]", i), "a write key may only hold %q, got %q", auth.ScopeTrack, s)
			}
		}
	case ingestionv1.APIKeyKind_API_KEY_KIND_SECRET:
		k.Kind = workspace.KeyKindSecret
		if len(pb.GetScopes()) == 0 {
			v.Addf("api_key.scopes", "a secret key needs one or more of %s", strings.Join(auth.AllScopes, ", "))
		}
		for i, s := range pb.GetScopes() {
			switch {
			case !auth.ValidScope(s):
				v.Addf(fmt.Sprintf("api_key.scopes[%d]", i), "unknown scope %q; one of %s", s, strings.Join(auth.AllScopes, ", "))
			case !slices.Contains(k.Scopes, s):
				k.Scopes = append(k.Scopes, s)
			}
		}
	default:
		v.Add("api_key.kind", "must be API_KEY_KIND_WRITE or API_KEY_KIND_SECRET")
	}
	if err := v.Err(); err != nil {
		return workspace.APIKey{}, toStatus(err)
	}
	return k, nil
}

func (w *workspaceServer) ListAPIKeys(ctx context.Context, req *ingestionv1.ListAPIKeysRequest) (*ingestionv1.ListAPIKeysResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	size, err := pageSizeWithin(req.GetPageSize(), 50, 200)
	if err != nil {
		return nil, err
	}
	page, err := w.s.store.ListAPIKeys(ctx, ws, size, req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &ingestionv1.ListAPIKeysResponse{NextPageToken: page.NextToken}
	for _, k := range page.Keys {
		resp.ApiKeys = append(resp.ApiKeys, apiKeyProto(k))
	}
	return resp, nil
}

func (w *workspaceServer) RevokeAPIKey(ctx context.Context, req *ingestionv1.RevokeAPIKeyRequest) (*ingestionv1.RevokeAPIKeyResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	id := strings.TrimSpace(req.GetApiKeyId())
	if id == "" {
		return nil, grpcstatus.Invalid("api_key_id", "is required")
	}
	k, err := w.s.store.RevokeAPIKey(ctx, ws, id, auth.HashKey(bearer(ctx)), w.s.now())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ingestionv1.RevokeAPIKeyResponse{ApiKey: apiKeyProto(k)}, nil
}

var apiKeyKinds = map[string]ingestionv1.APIKeyKind{
	workspace.KeyKindWrite:  ingestionv1.APIKeyKind_API_KEY_KIND_WRITE,
	workspace.KeyKindSecret: ingestionv1.APIKeyKind_API_KEY_KIND_SECRET,
}

func apiKeyProto(k workspace.APIKey) *ingestionv1.APIKey {
	pb := &ingestionv1.APIKey{
		ApiKeyId: k.ID, DisplayName: k.DisplayName, Kind: apiKeyKinds[k.Kind], Scopes: k.Scopes,
		KeyPrefix: k.Prefix, CreateTime: timestamppb.New(k.CreateTime),
	}
	if !k.RevokeTime.IsZero() {
		pb.RevokeTime = timestamppb.New(k.RevokeTime)
	}
	return pb
}
