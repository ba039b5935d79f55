package grpctest

import (
	"context"
	"iter"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpcstatus"
)

// methods yields the full name ("/pkg.Service/Method") of every method
// registered on srv but the standard public ones (health, reflection).
func methods(srv *grpc.Server) iter.Seq[string] {
	return func(yield func(string) bool) {
		for svc, info := range srv.GetServiceInfo() {
			for _, m := range info.Methods {
				full := "/" + svc + "/" + m.Name
				if auth.IsStandardPublicMethod(full) {
					continue
				}
				if !yield(full) {
					return
				}
			}
		}
	}
}

// registered returns the methods register adds to a server.
func registered(register func(*grpc.Server)) []string {
	srv := grpc.NewServer()
	register(srv)
	out := slices.Collect(methods(srv))
	slices.Sort(out)
	return out
}

// CheckScopes fails t unless table and public together cover every method
// register adds exactly once, and table names only registered methods and
// known scopes. Each service's tests call it with the service's table, so
// a new RPC without a scope fails the build's tests, not production (where
// it would be denied to every key).
func CheckScopes(t testing.TB, register func(*grpc.Server), table auth.ScopeTable, public []string) {
	t.Helper()
	methods := registered(register)
	for _, m := range methods {
		_, scoped := table[m]
		isPublic := slices.Contains(public, m)
		switch {
		case scoped && isPublic:
			t.Errorf("%s is public and has scopes %v: pick one", m, table[m])
		case !scoped && !isPublic:
			t.Errorf("%s has no scope entry", m)
		case scoped && len(table[m]) == 0:
			t.Errorf("%s has an empty scope entry", m)
		}
	}
	for m, scopes := range table {
		if !slices.Contains(methods, m) {
			t.Errorf("scope entry for %s, which is not registered", m)
		}
		for _, s := range scopes {
			if !auth.ValidScope(s) {
				t.Errorf("%s: unknown scope %q", m, s)
			}
		}
	}
}

// ScopeKey is the key CheckKeyScopes gives the scope.
func ScopeKey(scope string) string { return "kz_scope_" + strings.ReplaceAll(scope, ":", "_") }

// CheckKeyScopes checks the table with CheckScopes (subtest "table"), then
// serves the services register adds with it and calls every non-public
// method with a key holding each single scope (an empty request); it fails
// t unless the call is denied for lacking a scope (PermissionDenied `API
// key lacks scope …`) exactly when the key's scope is not enough by table.
// Other errors (InvalidArgument, NotFound, …) are what an allowed call with
// an empty request may answer. opts adjust the server; the verifier is
// CheckKeyScopes' own.
func CheckKeyScopes(t *testing.T, register func(*grpc.Server), table auth.ScopeTable, public []string, opts ...Option) {
	t.Helper()
	t.Run("table", func(t *testing.T) { CheckScopes(t, register, table, public) })
	keys := auth.ScopedKeys{}
	for _, s := range auth.AllScopes {
		keys[ScopeKey(s)] = auth.Principal{WorkspaceID: Workspace, Scopes: []string{s}}
	}
	opts = append(opts, WithScopes(table), WithPublicMethods(public...), WithVerifier(keys))
	conn := Dial(t, Start(t, register, opts...))
	for _, m := range registered(register) {
		if slices.Contains(public, m) {
			continue
		}
		t.Run(strings.TrimPrefix(m, "/"), func(t *testing.T) {
			md := methodDescriptor(t, m)
			for _, scope := range auth.AllScopes {
				wantDenied := !(auth.Principal{Scopes: []string{scope}}).HasAny(table[m])
				err := invoke(auth.WithBearer(context.Background(), ScopeKey(scope)), conn, m, md)
				denied := status.Code(err) == codes.PermissionDenied && grpcstatus.Reason(err) == auth.ReasonScopeMissing
				if denied != wantDenied {
					t.Errorf("key with scope %q: err = %v; want denied for lack of scope: %v (table: %v)", scope, err, wantDenied, table[m])
				}
			}
		})
	}
}

func methodDescriptor(t *testing.T, full string) protoreflect.MethodDescriptor {
	t.Helper()
	svc, name, _ := strings.Cut(strings.TrimPrefix(full, "/"), "/")
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		t.Fatalf("%s: %v", full, err)
	}
	md := d.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(name))
	if md == nil {
		t.Fatalf("%s: no such method in the descriptor", full)
	}
	return md
}

// invoke calls method with an empty request and returns its error.
func invoke(ctx context.Context, conn *grpc.ClientConn, method string, md protoreflect.MethodDescriptor) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, resp := dynamicpb.NewMessage(md.Input()), dynamicpb.NewMessage(md.Output())
	if !md.IsStreamingClient() && !md.IsStreamingServer() {
		return conn.Invoke(ctx, method, req, resp)
	}
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: md.IsStreamingClient(), ServerStreams: md.IsStreamingServer()}, method)
	if err != nil {
		return err
	}
	if err := st.SendMsg(req); err != nil {
		return st.RecvMsg(resp)
	}
	if err := st.CloseSend(); err != nil {
		return err
	}
	return st.RecvMsg(resp)
}
