package api_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/ingestion/internal/workspace"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpctest"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

const day = 24 * time.Hour

// settingsFixture serves ingestion on db with the test workspace created
// the way a workspace is stored before any setting is changed.
func settingsFixture(t *testing.T, db *sqldb.DB) (context.Context, *grpc.ClientConn, ingestionv1.WorkspaceServiceClient) {
	t.Helper()
	ctx := auth.WithBearer(context.Background(), grpctest.Key)
	conn, st := startServer(t, db)
	if err := st.CreateWorkspace(ctx, workspace.Workspace{ID: grpctest.Workspace, DisplayName: "test", PhoneRegion: "JP", CreateTime: time.Now()}, workspace.APIKey{},
		auth.HashKey(grpctest.Key)); err != nil {
		t.Fatal(err)
	}
	return ctx, conn, ingestionv1.NewWorkspaceServiceClient(conn)
}

func getWorkspace(ctx context.Context, t *testing.T, c ingestionv1.WorkspaceServiceClient) *ingestionv1.Workspace {
	t.Helper()
	got, err := c.GetWorkspace(ctx, &ingestionv1.GetWorkspaceRequest{WorkspaceId: grpctest.Workspace})
	if err != nil {
		t.Fatal(err)
	}
	return got.GetWorkspace()
}

// settingsOf is a workspace without its create time, for comparison.
func settingsOf(ws *ingestionv1.Workspace) *ingestionv1.Workspace {
	c := proto.Clone(ws).(*ingestionv1.Workspace)
	c.CreateTime = nil
	return c
}

func wantSettings(t *testing.T, got, want *ingestionv1.Workspace) {
	t.Helper()
	if !proto.Equal(settingsOf(got), settingsOf(want)) {
		t.Errorf("workspace =\n %v\nwant\n %v", settingsOf(got), settingsOf(want))
	}
}

func mask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

// everything sets every settable field.
func everything() *ingestionv1.Workspace {
	return &ingestionv1.Workspace{
		WorkspaceId: grpctest.Workspace, DisplayName: "Shop", PhoneRegion: "GB", Timezone: "America/New_York",
		QuietHours: &ingestionv1.QuietHours{Start: "21:00", End: "09:00"},
		FrequencyCaps: []*ingestionv1.FrequencyCap{
			{ChannelType: ingestionv1.ChannelType_EMAIL, MaxSends: 3, Period: durationpb.New(day)},
			{ChannelType: ingestionv1.ChannelType_LINE, MaxSends: 1, Period: durationpb.New(time.Minute)},
			{ChannelType: ingestionv1.ChannelType_WEBHOOK, MaxSends: 10000, Period: durationpb.New(365 * day)},
		},
		AllowLoopbackUrls: true, AllowPrivateUrls: true,
	}
}

// TestWorkspaceSettings round-trips the messaging settings on every backend
// and checks the defaults and update masks.
func TestWorkspaceSettings(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx, _, workspaces := settingsFixture(t, db)
		update := func(t *testing.T, ws *ingestionv1.Workspace, m *fieldmaskpb.FieldMask) *ingestionv1.Workspace {
			t.Helper()
			if ws.WorkspaceId == "" {
				ws.WorkspaceId = grpctest.Workspace
			}
			got, err := workspaces.UpdateWorkspace(ctx, &ingestionv1.UpdateWorkspaceRequest{Workspace: ws, UpdateMask: m})
			if err != nil {
				t.Fatal(err)
			}
			if read := getWorkspace(ctx, t, workspaces); !proto.Equal(read, got.GetWorkspace()) {
				t.Errorf("update answered %v, a read gives %v", got.GetWorkspace(), read)
			}
			return got.GetWorkspace()
		}

		t.Run("defaults", func(t *testing.T) {
			wantSettings(t, getWorkspace(ctx, t, workspaces), &ingestionv1.Workspace{
				WorkspaceId: grpctest.Workspace, DisplayName: "test", PhoneRegion: "JP", Timezone: "Asia/Tokyo",
			})
		})

		t.Run("every field round-trips with an empty mask", func(t *testing.T) {
			wantSettings(t, update(t, everything(), nil), everything())
		})

		t.Run("a mask changes only what it names", func(t *testing.T) {
			want := everything()
			want.QuietHours = &ingestionv1.QuietHours{Start: "23:59", End: "00:00"}
			wantSettings(t, update(t, &ingestionv1.Workspace{QuietHours: want.QuietHours}, mask("quiet_hours")), want)

			want.QuietHours.Start = "22:30"
			wantSettings(t, update(t, &ingestionv1.Workspace{QuietHours: &ingestionv1.QuietHours{Start: " 22:30 "}}, mask("quiet_hours.start")), want)

			want.Timezone = "Europe/London"
			wantSettings(t, update(t, &ingestionv1.Workspace{Timezone: "Europe/London", DisplayName: "ignored"}, mask("timezone")), want)

			want.FrequencyCaps = want.FrequencyCaps[1:2]
			wantSettings(t, update(t, &ingestionv1.Workspace{FrequencyCaps: want.FrequencyCaps}, mask("frequency_caps")), want)

			want.AllowPrivateUrls = false
			wantSettings(t, update(t, &ingestionv1.Workspace{}, mask("allow_private_urls")), want)

			want.AllowLoopbackUrls = false
			want.DisplayName = "Shop 2"
			wantSettings(t, update(t, &ingestionv1.Workspace{DisplayName: "Shop 2"}, mask("display_name", "allow_loopback_urls")), want)
		})

		t.Run("unset or empty clears", func(t *testing.T) {
			want := settingsOf(getWorkspace(ctx, t, workspaces))
			want.QuietHours = nil
			wantSettings(t, update(t, &ingestionv1.Workspace{}, mask("quiet_hours")), want)

			wantSettings(t, update(t, &ingestionv1.Workspace{QuietHours: &ingestionv1.QuietHours{Start: "01:00", End: "02:00"}}, mask("quiet_hours")),
				withQuiet(want, "01:00", "02:00"))
			wantSettings(t, update(t, &ingestionv1.Workspace{QuietHours: &ingestionv1.QuietHours{}}, mask("quiet_hours")), want)

			want.FrequencyCaps = nil
			wantSettings(t, update(t, &ingestionv1.Workspace{}, mask("frequency_caps")), want)

			want.Timezone = "Asia/Tokyo"
			wantSettings(t, update(t, &ingestionv1.Workspace{Timezone: " "}, mask("timezone")), want)
		})

		t.Run("concurrent updates of different fields all stick", func(t *testing.T) {
			update(t, &ingestionv1.Workspace{DisplayName: "concurrent"}, nil)
			want := everything()
			want.DisplayName, want.PhoneRegion = "concurrent", "JP"
			var wg sync.WaitGroup
			for _, path := range []string{"timezone", "quiet_hours", "frequency_caps", "allow_loopback_urls", "allow_private_urls"} {
				wg.Go(func() {
					if _, err := workspaces.UpdateWorkspace(ctx, &ingestionv1.UpdateWorkspaceRequest{Workspace: everything(), UpdateMask: mask(path)}); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			wantSettings(t, getWorkspace(ctx, t, workspaces), want)
		})

		t.Run("an empty mask sets every field, clearing those not sent", func(t *testing.T) {
			update(t, everything(), nil)
			wantSettings(t, update(t, &ingestionv1.Workspace{DisplayName: "only a name"}, nil), &ingestionv1.Workspace{
				WorkspaceId: grpctest.Workspace, DisplayName: "only a name", PhoneRegion: "JP", Timezone: "Asia/Tokyo",
			})
		})
	})
}

func withQuiet(ws *ingestionv1.Workspace, start, end string) *ingestionv1.Workspace {
	c := proto.Clone(ws).(*ingestionv1.Workspace)
	c.QuietHours = &ingestionv1.QuietHours{Start: start, End: end}
	return c
}

// TestWorkspaceSettingsValidation checks that every invalid setting is
// InvalidArgument naming its field, on every backend, and that nothing of
// a refused update is stored.
func TestWorkspaceSettingsValidation(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx, _, workspaces := settingsFixture(t, db)
		if _, err := workspaces.UpdateWorkspace(ctx, &ingestionv1.UpdateWorkspaceRequest{Workspace: everything()}); err != nil {
			t.Fatal(err)
		}
		before := getWorkspace(ctx, t, workspaces)

		capsOf := func(caps ...*ingestionv1.FrequencyCap) *ingestionv1.Workspace {
			return &ingestionv1.Workspace{FrequencyCaps: caps}
		}
		capOf := func(ch ingestionv1.ChannelType, n int32, period *durationpb.Duration) *ingestionv1.FrequencyCap {
			return &ingestionv1.FrequencyCap{ChannelType: ch, MaxSends: n, Period: period}
		}
		email, line := ingestionv1.ChannelType_EMAIL, ingestionv1.ChannelType_LINE
		hour := durationpb.New(time.Hour)
		quiet := func(start, end string) *ingestionv1.Workspace {
			return &ingestionv1.Workspace{QuietHours: &ingestionv1.QuietHours{Start: start, End: end}}
		}
		tests := []struct {
			name   string
			ws     *ingestionv1.Workspace
			paths  []string
			fields []string
		}{
			{"unknown time zone", &ingestionv1.Workspace{Timezone: "Mars/Olympus_Mons"}, []string{"timezone"}, []string{"workspace.timezone"}},
			{"Local is no time zone", &ingestionv1.Workspace{Timezone: "Local"}, []string{"timezone"}, []string{"workspace.timezone"}},
			{"a path is no time zone", &ingestionv1.Workspace{Timezone: "../../etc/passwd"}, []string{"timezone"}, []string{"workspace.timezone"}},
			{"quiet hours without end", quiet("21:00", ""), []string{"quiet_hours"}, []string{"workspace.quiet_hours.end"}},
			{"quiet hours without start", quiet("", "09:00"), []string{"quiet_hours"}, []string{"workspace.quiet_hours.start"}},
			{"hour 24", quiet("24:00", "09:00"), []string{"quiet_hours"}, []string{"workspace.quiet_hours.start"}},
			{"one-digit hour", quiet("9:00", "21:00"), []string{"quiet_hours"}, []string{"workspace.quiet_hours.start"}},
			{"minute 60", quiet("21:00", "08:60"), []string{"quiet_hours"}, []string{"workspace.quiet_hours.end"}},
			{"seconds", quiet("21:00:00", "08:00"), []string{"quiet_hours"}, []string{"workspace.quiet_hours.start"}},
			{"empty window", quiet("21:00", "21:00"), []string{"quiet_hours"}, []string{"workspace.quiet_hours.end"}},
			{"both ends bad", quiet("noon", "xx:yy"), []string{"quiet_hours"}, []string{"workspace.quiet_hours.start", "workspace.quiet_hours.end"}},
			{"a start equal to the stored end", quiet("09:00", ""), []string{"quiet_hours.start"}, []string{"workspace.quiet_hours.end"}},
			{"no channel type", capsOf(capOf(0, 1, hour)), []string{"frequency_caps"}, []string{"workspace.frequency_caps[0].channel_type"}},
			{"unknown channel type", capsOf(capOf(9, 1, hour)), []string{"frequency_caps"}, []string{"workspace.frequency_caps[0].channel_type"}},
			{"two caps on one channel", capsOf(capOf(email, 1, hour), capOf(line, 1, hour), capOf(email, 2, hour)), []string{"frequency_caps"},
				[]string{"workspace.frequency_caps[2].channel_type"}},
			{"no sends", capsOf(capOf(email, 0, hour)), []string{"frequency_caps"}, []string{"workspace.frequency_caps[0].max_sends"}},
			{"too many sends", capsOf(capOf(email, 10001, hour)), []string{"frequency_caps"}, []string{"workspace.frequency_caps[0].max_sends"}},
			{"no period", capsOf(capOf(line, 1, hour), capOf(email, 1, nil)), []string{"frequency_caps"}, []string{"workspace.frequency_caps[1].period"}},
			{"period under a minute", capsOf(capOf(email, 1, durationpb.New(59*time.Second))), []string{"frequency_caps"},
				[]string{"workspace.frequency_caps[0].period"}},
			{"period over 365 days", capsOf(capOf(email, 1, durationpb.New(365*day+time.Second))), []string{"frequency_caps"},
				[]string{"workspace.frequency_caps[0].period"}},
			{"negative period", capsOf(capOf(email, 1, durationpb.New(-time.Hour))), []string{"frequency_caps"},
				[]string{"workspace.frequency_caps[0].period"}},
			{"malformed period", capsOf(capOf(email, 1, &durationpb.Duration{Seconds: 3600, Nanos: -1})), []string{"frequency_caps"},
				[]string{"workspace.frequency_caps[0].period"}},
			{"four caps", capsOf(capOf(email, 1, hour), capOf(line, 1, hour), capOf(ingestionv1.ChannelType_WEBHOOK, 1, hour), capOf(email, 1, hour)),
				[]string{"frequency_caps"}, []string{"workspace.frequency_caps", "workspace.frequency_caps[3].channel_type"}},
			{"empty display name", &ingestionv1.Workspace{}, []string{"display_name"}, []string{"workspace.display_name"}},
			{"unknown region", &ingestionv1.Workspace{PhoneRegion: "XX"}, []string{"phone_region"}, []string{"workspace.phone_region"}},
			{"output-only path", &ingestionv1.Workspace{}, []string{"timezone", "create_time"}, []string{"update_mask.paths[1]"}},
			{"every error at once", &ingestionv1.Workspace{Timezone: "Nowhere", QuietHours: &ingestionv1.QuietHours{Start: "21:00"},
				FrequencyCaps: []*ingestionv1.FrequencyCap{capOf(email, 0, hour)}}, nil,
				[]string{"workspace.display_name", "workspace.timezone", "workspace.quiet_hours.end", "workspace.frequency_caps[0].max_sends"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tt.ws.WorkspaceId = grpctest.Workspace
				_, err := workspaces.UpdateWorkspace(ctx, &ingestionv1.UpdateWorkspaceRequest{Workspace: tt.ws, UpdateMask: mask(tt.paths...)})
				got := violations(t, err)
				slices.Sort(got)
				slices.Sort(tt.fields)
				if !slices.Equal(got, tt.fields) {
					t.Errorf("violations = %v, want %v (%v)", got, tt.fields, err)
				}
				if after := getWorkspace(ctx, t, workspaces); !proto.Equal(after, before) {
					t.Errorf("a refused update changed the workspace to %v", after)
				}
			})
		}
	})
}

// violations returns the fields an InvalidArgument error names.
func violations(t *testing.T, err error) []string {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code = %v (%v), want InvalidArgument", st.Code(), err)
	}
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return fields
}

// TestWorkspacePatchThroughGateway sends PATCH requests through the
// generated grpc-gateway handler, which derives update_mask from the JSON
// body's fields: each PATCH changes only what its body holds.
func TestWorkspacePatchThroughGateway(t *testing.T) {
	ctx, conn, workspaces := settingsFixture(t, sqldbtest.SQLite(t))
	if _, err := workspaces.UpdateWorkspace(ctx, &ingestionv1.UpdateWorkspaceRequest{Workspace: everything()}); err != nil {
		t.Fatal(err)
	}
	mux := runtime.NewServeMux(runtime.WithMetadata(func(_ context.Context, r *http.Request) metadata.MD {
		return metadata.Pairs("authorization", r.Header.Get("Authorization"))
	}))
	if err := ingestionv1.RegisterWorkspaceServiceHandlerClient(context.Background(), mux, ingestionv1.NewWorkspaceServiceClient(conn)); err != nil {
		t.Fatal(err)
	}
	patch := func(t *testing.T, body string) int {
		t.Helper()
		req := httptest.NewRequest(http.MethodPatch, "/v1/workspaces/"+grpctest.Workspace, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+grpctest.Key)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("PATCH %s: %d %s", body, rec.Code, rec.Body)
		}
		return rec.Code
	}

	want := everything()
	for _, step := range []struct {
		body   string
		code   int
		change func()
	}{
		{`{"quietHours": {"start": "22:00", "end": "06:00"}}`, http.StatusOK, func() { want.QuietHours = &ingestionv1.QuietHours{Start: "22:00", End: "06:00"} }},
		{`{"quietHours": {"end": "07:30"}}`, http.StatusOK, func() { want.QuietHours.End = "07:30" }},
		{`{"timezone": "Europe/Paris"}`, http.StatusOK, func() { want.Timezone = "Europe/Paris" }},
		{`{"frequencyCaps": [{"channelType": "LINE", "maxSends": 2, "period": "3600s"}]}`, http.StatusOK, func() {
			want.FrequencyCaps = []*ingestionv1.FrequencyCap{{ChannelType: ingestionv1.ChannelType_LINE, MaxSends: 2, Period: durationpb.New(time.Hour)}}
		}},
		{`{"allowPrivateUrls": false}`, http.StatusOK, func() { want.AllowPrivateUrls = false }},
		{`{"displayName": "REST", "phoneRegion": "jp"}`, http.StatusOK, func() { want.DisplayName, want.PhoneRegion = "REST", "JP" }},
		{`{"quietHours": null}`, http.StatusOK, func() { want.QuietHours = nil }},
		{`{"frequencyCaps": []}`, http.StatusOK, func() { want.FrequencyCaps = nil }},
		{`{"quietHours": {"start": "25:00", "end": "06:00"}}`, http.StatusBadRequest, func() {}},
		{`{"timezone": "Local"}`, http.StatusBadRequest, func() {}},
	} {
		if code := patch(t, step.body); code != step.code {
			t.Errorf("PATCH %s: %d, want %d", step.body, code, step.code)
		}
		step.change()
		wantSettings(t, getWorkspace(ctx, t, workspaces), want)
	}
}
