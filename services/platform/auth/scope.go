package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kizuna/kizuna/services/platform/grpcstatus"
)

// Scopes an API key may hold (see APIKey in
// proto/kizuna/ingestion/v1/workspaces.proto). ScopeAdmin implies every
// other scope, and a ":write" scope implies the ":read" scope of the same
// resource.
const (
	ScopeTrack          = "track"
	ScopeProfilesRead   = "profiles:read"
	ScopeProfilesWrite  = "profiles:write"
	ScopeSegmentsRead   = "segments:read"
	ScopeSegmentsWrite  = "segments:write"
	ScopeCampaignsRead  = "campaigns:read"
	ScopeCampaignsWrite = "campaigns:write"
	ScopeMetricsRead    = "metrics:read"
	ScopeMetricsWrite   = "metrics:write"
	ScopeAdmin          = "admin"
)

// AllScopes lists every scope, in the order the contract documents them.
var AllScopes = []string{
	ScopeTrack, ScopeProfilesRead, ScopeProfilesWrite, ScopeSegmentsRead, ScopeSegmentsWrite,
	ScopeCampaignsRead, ScopeCampaignsWrite, ScopeMetricsRead, ScopeMetricsWrite, ScopeAdmin,
}

// ValidScope reports whether s is one of AllScopes.
func ValidScope(s string) bool { return slices.Contains(AllScopes, s) }

// Principal is who an API key (or service token) authenticates as: a
// workspace and what the key may do there.
type Principal struct {
	WorkspaceID string
	Scopes      []string
}

// AdminPrincipal is a principal of workspaceID with every scope: the dev
// key, service tokens and StaticKeys.
func AdminPrincipal(workspaceID string) Principal {
	return Principal{WorkspaceID: workspaceID, Scopes: []string{ScopeAdmin}}
}

// Has reports whether p holds scope, directly or by implication (admin
// implies all; "x:write" implies "x:read").
func (p Principal) Has(scope string) bool {
	for _, s := range p.Scopes {
		if s == scope || s == ScopeAdmin {
			return true
		}
		if res, ok := strings.CutSuffix(scope, ":read"); ok && s == res+":write" {
			return true
		}
	}
	return false
}

// HasAny reports whether p holds at least one of scopes.
func (p Principal) HasAny(scopes []string) bool {
	return slices.ContainsFunc(scopes, p.Has)
}

type principalKey struct{}

// WithPrincipal returns ctx carrying the authenticated principal.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the authenticated principal in ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok && p.WorkspaceID != ""
}

// ScopeTable maps a gRPC full method name ("/pkg.Service/Method") to the
// scopes that allow calling it: a key needs at least one of them. Every
// service declares one for all its methods; the interceptor denies a
// method missing from it (fail closed). Public methods (see
// grpcserver.Options.PublicMethods) need no entry.
type ScopeTable map[string][]string

// MergeScopes returns one table holding the entries of all tables.
func MergeScopes(tables ...ScopeTable) ScopeTable {
	out := ScopeTable{}
	for _, t := range tables {
		for m, s := range t {
			out[m] = s
		}
	}
	return out
}

// Check returns nil when p may call fullMethod, or PermissionDenied naming
// the missing scope.
func (t ScopeTable) Check(p Principal, fullMethod string) error {
	need, ok := t[fullMethod]
	if !ok || len(need) == 0 {
		return status.Errorf(codes.PermissionDenied, "method %s declares no scope; denied", fullMethod)
	}
	if p.HasAny(need) {
		return nil
	}
	return lacksScope(need)
}

// ReasonScopeMissing is the google.rpc.ErrorInfo reason of a call the key's
// scopes do not allow; its metadata "scopes" lists the scopes that would,
// space-separated, so clients need not read them out of the message.
const ReasonScopeMissing = "SCOPE_MISSING"

// lacksScope is PermissionDenied for a key lacking all of need.
func lacksScope(need []string) error {
	st := status.New(codes.PermissionDenied, LacksScopeMessage(need))
	info := &errdetails.ErrorInfo{Reason: ReasonScopeMissing, Domain: grpcstatus.Domain, Metadata: map[string]string{"scopes": strings.Join(need, " ")}}
	if d, err := st.WithDetails(info); err == nil {
		st = d
	}
	return st.Err()
}

// LacksScopeMessage is the PermissionDenied message for a key lacking all
// of need, e.g. `API key lacks scope "segments:write"`.
func LacksScopeMessage(need []string) string {
	q := make([]string, len(need))
	for i, s := range need {
		q[i] = fmt.Sprintf("%q", s)
	}
	return "API key lacks scope " + strings.Join(q, " or ")
}

// RequireScope returns nil when the principal in ctx holds scope, or
// PermissionDenied naming it. Handlers that do more than their method's
// table entry says (the gateway's own routes) check with it.
func RequireScope(ctx context.Context, scope string) error {
	p, ok := PrincipalFrom(ctx)
	if !ok {
		return status.Error(codes.Unauthenticated, "missing workspace credentials")
	}
	if !p.Has(scope) {
		return lacksScope([]string{scope})
	}
	return nil
}
