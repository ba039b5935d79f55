package api_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpctest"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestLineUserID follows a LINE follower who later identifies over the API
// on every backend, and looks the customer up by LINE user id.
func TestLineUserID(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := auth.WithBearer(context.Background(), grpctest.Key)
		conn, _ := startServer(t, db)
		track := ingestionv1.NewTrackingServiceClient(conn)
		customers := ingestionv1.NewCustomerServiceClient(conn)
		const lineID = "U0123456789abcdef0123456789abcdef"

		follow, err := track.Track(ctx, &ingestionv1.TrackRequest{MessageId: "f1", AnonymousId: "line:" + lineID, Event: "LINE Followed"})
		if err != nil {
			t.Fatal(err)
		}
		taro, err := track.Identify(ctx, &ingestionv1.IdentifyRequest{MessageId: "i1", UserId: "taro",
			Traits: mustStruct(t, map[string]any{"lineUserId": lineID, "name": "太郎"})})
		if err != nil {
			t.Fatal(err)
		}
		if taro.GetCustomerId() != follow.GetCustomerId() {
			t.Fatalf("identify made customer %s, the follow %s: want one", taro.GetCustomerId(), follow.GetCustomerId())
		}

		got, err := customers.LookupCustomer(ctx, &ingestionv1.LookupCustomerRequest{LineUserId: " " + lineID + " "})
		if err != nil {
			t.Fatal(err)
		}
		c := got.GetCustomer()
		var kinds []string
		for _, id := range c.GetIdentities() {
			kinds = append(kinds, id.GetKind()+"="+id.GetValue())
		}
		want := []string{"anonymous_id=line:" + lineID, "line_user_id=" + lineID, "user_id=taro"}
		if c.GetCustomerId() != taro.GetCustomerId() || c.GetEventCount() != 2 || !slices.Equal(kinds, want) {
			t.Errorf("lookup = %v; want identities %v", c, want)
		}

		for name, tt := range map[string]struct {
			req   *ingestionv1.LookupCustomerRequest
			code  codes.Code
			field string
		}{
			"unknown LINE id":       {&ingestionv1.LookupCustomerRequest{LineUserId: "Unobody"}, codes.NotFound, ""},
			"LINE id and user id":   {&ingestionv1.LookupCustomerRequest{LineUserId: lineID, UserId: "taro"}, codes.InvalidArgument, "user_id"},
			"blank LINE id":         {&ingestionv1.LookupCustomerRequest{LineUserId: "  "}, codes.InvalidArgument, "user_id"},
			"over-long LINE id":     {&ingestionv1.LookupCustomerRequest{LineUserId: strings.Repeat("U", tracking.MaxIDLength+1)}, codes.InvalidArgument, "line_user_id"},
			"anonymous id and LINE": {&ingestionv1.LookupCustomerRequest{LineUserId: lineID, AnonymousId: "line:" + lineID}, codes.InvalidArgument, "user_id"},
		} {
			t.Run(name, func(t *testing.T) {
				_, err := customers.LookupCustomer(ctx, tt.req)
				if status.Code(err) != tt.code {
					t.Fatalf("code = %v (%v), want %v", status.Code(err), err, tt.code)
				}
				if tt.field != "" {
					if got := violations(t, err); !slices.Equal(got, []string{tt.field}) {
						t.Errorf("violations = %v, want %s", got, tt.field)
					}
				}
			})
		}
	})
}
