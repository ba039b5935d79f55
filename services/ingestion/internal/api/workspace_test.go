package api_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/structpb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/ingestion/internal/workspace"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpctest"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestWorkspacePhoneRegion changes the workspace's phone region and checks
// that phone identities follow it.
func TestWorkspacePhoneRegion(t *testing.T) {
	ctx := auth.WithBearer(context.Background(), grpctest.Key)
	conn, st := startServer(t, sqldbtest.SQLite(t))
	if err := st.CreateWorkspace(ctx, workspace.Workspace{ID: grpctest.Workspace, DisplayName: "test", PhoneRegion: "JP", CreateTime: time.Now()}, workspace.APIKey{},
		auth.HashKey(grpctest.Key)); err != nil {
		t.Fatal(err)
	}
	workspaces := ingestionv1.NewWorkspaceServiceClient(conn)
	tracking := ingestionv1.NewTrackingServiceClient(conn)
	customers := ingestionv1.NewCustomerServiceClient(conn)

	got, err := workspaces.GetWorkspace(ctx, &ingestionv1.GetWorkspaceRequest{WorkspaceId: grpctest.Workspace})
	if err != nil || got.GetWorkspace().GetPhoneRegion() != "JP" {
		t.Fatalf("workspace = %v, %v", got, err)
	}
	updated, err := workspaces.UpdateWorkspace(ctx, &ingestionv1.UpdateWorkspaceRequest{
		Workspace:  &ingestionv1.Workspace{WorkspaceId: grpctest.Workspace, PhoneRegion: "gb", DisplayName: "ignored"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"phone_region"}},
	})
	if err != nil || updated.GetWorkspace().GetPhoneRegion() != "GB" || updated.GetWorkspace().GetDisplayName() != "test" {
		t.Fatalf("update = %v, %v", updated, err)
	}
	kept, err := workspaces.UpdateWorkspace(ctx, &ingestionv1.UpdateWorkspaceRequest{
		Workspace:  &ingestionv1.Workspace{WorkspaceId: grpctest.Workspace, EventRetentionDays: 400, RequireConsent: true},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"event_retention_days", "require_consent"}},
	})
	if err != nil || kept.GetWorkspace().GetEventRetentionDays() != 400 || !kept.GetWorkspace().GetRequireConsent() || kept.GetWorkspace().GetPhoneRegion() != "GB" {
		t.Fatalf("update retention and consent = %v, %v", kept, err)
	}
	if _, err := tracking.Identify(ctx, &ingestionv1.IdentifyRequest{AnonymousId: "a", MessageId: "m1", Traits: mustStruct(t, map[string]any{"phone": "07400 123456"})}); err != nil {
		t.Fatal(err)
	}
	c, err := customers.LookupCustomer(ctx, &ingestionv1.LookupCustomerRequest{Phone: "+44 7400 123456"})
	if err != nil || c.GetCustomer().GetIdentityTraits()[0].GetNormalized() != "+447400123456" {
		t.Errorf("lookup by a British mobile = %v, %v", c, err)
	}

	for name, tt := range map[string]struct {
		req  *ingestionv1.UpdateWorkspaceRequest
		code codes.Code
	}{
		"another workspace": {&ingestionv1.UpdateWorkspaceRequest{Workspace: &ingestionv1.Workspace{WorkspaceId: "ws_other", PhoneRegion: "JP"}}, codes.PermissionDenied},
		"unknown region":    {&ingestionv1.UpdateWorkspaceRequest{Workspace: &ingestionv1.Workspace{WorkspaceId: grpctest.Workspace, PhoneRegion: "XX", DisplayName: "n"}}, codes.InvalidArgument},
		"empty name":        {&ingestionv1.UpdateWorkspaceRequest{Workspace: &ingestionv1.Workspace{WorkspaceId: grpctest.Workspace, PhoneRegion: "JP"}}, codes.InvalidArgument},
		"unknown path": {&ingestionv1.UpdateWorkspaceRequest{Workspace: &ingestionv1.Workspace{WorkspaceId: grpctest.Workspace},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"create_time"}}}, codes.InvalidArgument},
		"no workspace id": {&ingestionv1.UpdateWorkspaceRequest{}, codes.InvalidArgument},
		"negative retention": {&ingestionv1.UpdateWorkspaceRequest{Workspace: &ingestionv1.Workspace{WorkspaceId: grpctest.Workspace, EventRetentionDays: -1},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"event_retention_days"}}}, codes.InvalidArgument},
		"retention over ten years": {&ingestionv1.UpdateWorkspaceRequest{Workspace: &ingestionv1.Workspace{WorkspaceId: grpctest.Workspace, EventRetentionDays: 3651},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"event_retention_days"}}}, codes.InvalidArgument},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := workspaces.UpdateWorkspace(ctx, tt.req); status.Code(err) != tt.code {
				t.Errorf("code = %v (%v), want %v", status.Code(err), err, tt.code)
			}
		})
	}
}

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
