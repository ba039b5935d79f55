package api_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpctest"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// consents renders a profile's consents as "purpose=granted/source" in
// purpose order, for comparison.
func consents(c *ingestionv1.Customer) string {
	var parts []string
	for _, s := range c.GetConsents() {
		parts = append(parts, fmt.Sprintf("%s=%t/%s", s.GetPurpose(), s.GetGranted(), s.GetSource()))
	}
	return strings.Join(parts, " ")
}

// TestCustomerConsent sets consent by identify traits, an Unsubscribed
// event and the consent API, on every backend, and checks the profile after
// each, after a merge and after its undo.
func TestCustomerConsent(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := auth.WithBearer(context.Background(), grpctest.Key)
		conn, _ := startServer(t, db)
		tracking := ingestionv1.NewTrackingServiceClient(conn)
		customers := ingestionv1.NewCustomerServiceClient(conn)
		dedupe := ingestionv1.NewDeduplicationServiceClient(conn)
		get := func(id string) *ingestionv1.Customer {
			t.Helper()
			got, err := customers.GetCustomer(ctx, &ingestionv1.GetCustomerRequest{CustomerId: id})
			if err != nil {
				t.Fatal(err)
			}
			return got.GetCustomer()
		}

		// Identify traits: a bare boolean, and an object with its own
		// source and time.
		id, err := tracking.Identify(ctx, &ingestionv1.IdentifyRequest{UserId: "u-1", MessageId: "i-1", Traits: mustStruct(t, map[string]any{
			"name": "山田太郎",
			"consent": map[string]any{
				"marketing_email": true,
				"analytics":       map[string]any{"granted": false, "source": "cookie_banner", "time": "2026-01-02T03:04:05Z"},
				"Not A Purpose":   true,
			},
		})})
		if err != nil {
			t.Fatal(err)
		}
		cus := id.GetCustomerId()
		c := get(cus)
		if got, want := consents(c), "analytics=false/cookie_banner marketing_email=true/identify"; got != want {
			t.Errorf("after identify: consents = %q, want %q", got, want)
		}
		if at := c.GetConsents()[0].GetTime().AsTime(); !at.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
			t.Errorf("analytics consent time = %v, want the time the statement gave", at)
		}

		// Campaign's unsubscribe link records this event.
		if _, err := tracking.Track(ctx, &ingestionv1.TrackRequest{UserId: "u-1", MessageId: "unsub-1", Event: "Unsubscribed",
			Properties: mustStruct(t, map[string]any{"channel": "email", "source": "unsubscribe_link"})}); err != nil {
			t.Fatal(err)
		}
		if got, want := consents(get(cus)), "analytics=false/cookie_banner marketing_email=false/unsubscribe_link"; got != want {
			t.Errorf("after unsubscribing: consents = %q, want %q", got, want)
		}

		// The consent API: granted again at the store, recorded as an
		// event on the timeline.
		put, err := customers.UpdateCustomerConsent(ctx, &ingestionv1.UpdateCustomerConsentRequest{CustomerId: cus, MessageId: "c-1",
			Consents: []*ingestionv1.ConsentChange{{Purpose: "marketing_email", Granted: proto.Bool(true), Source: "store_form"}}})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := consents(put.GetCustomer()), "analytics=false/cookie_banner marketing_email=true/store_form"; got != want || put.GetEventId() != "c-1" {
			t.Errorf("after the API: consents = %q, event %q; want %q, c-1", got, put.GetEventId(), want)
		}
		events, err := customers.ListCustomerEvents(ctx, &ingestionv1.ListCustomerEventsRequest{CustomerId: cus})
		if err != nil || events.GetEvents()[0].GetName() != "Consent Updated" {
			t.Errorf("newest event = %v, %v; want Consent Updated", events.GetEvents()[0], err)
		}
		// A retry with the same message id records nothing, and a
		// statement older than the standing one changes nothing.
		for _, ch := range []struct {
			msg string
			at  *timestamppb.Timestamp
		}{{"c-1", nil}, {"c-2", timestamppb.New(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))}} {
			res, err := customers.UpdateCustomerConsent(ctx, &ingestionv1.UpdateCustomerConsentRequest{CustomerId: cus, MessageId: ch.msg,
				Consents: []*ingestionv1.ConsentChange{{Purpose: "marketing_email", Granted: proto.Bool(false), Time: ch.at}}})
			if err != nil {
				t.Fatal(err)
			}
			if got := consents(res.GetCustomer()); !strings.Contains(got, "marketing_email=true/store_form") {
				t.Errorf("message %s: consents = %q, want marketing_email still granted", ch.msg, got)
			}
		}

		// Merge with a second customer who granted LINE: the survivor has
		// both; the undo gives each its own back.
		other, err := tracking.Identify(ctx, &ingestionv1.IdentifyRequest{AnonymousId: "anon-2", MessageId: "i-2",
			Traits: mustStruct(t, map[string]any{"consent": map[string]any{"marketing_line": true, "marketing_email": false}})})
		if err != nil {
			t.Fatal(err)
		}
		merged, err := dedupe.MergeCustomers(ctx, &ingestionv1.MergeCustomersRequest{SurvivorCustomerId: cus, MergedCustomerIds: []string{other.GetCustomerId()}})
		if err != nil {
			t.Fatal(err)
		}
		// The other customer's withdrawal of e-mail came later than the
		// store form's grant: it wins.
		if got, want := consents(get(cus)), "analytics=false/cookie_banner marketing_email=false/identify marketing_line=true/identify"; got != want {
			t.Errorf("after the merge: consents = %q, want %q", got, want)
		}
		if _, err := dedupe.UndoMerge(ctx, &ingestionv1.UndoMergeRequest{MergeId: merged.GetMerge().GetMergeId()}); err != nil {
			t.Fatal(err)
		}
		if got, want := consents(get(cus)), "analytics=false/cookie_banner marketing_email=true/store_form"; got != want {
			t.Errorf("survivor after the undo: consents = %q, want %q", got, want)
		}
		if got, want := consents(get(other.GetCustomerId())), "marketing_email=false/identify marketing_line=true/identify"; got != want {
			t.Errorf("restored customer after the undo: consents = %q, want %q", got, want)
		}

		for _, tt := range []struct {
			name  string
			req   *ingestionv1.UpdateCustomerConsentRequest
			code  codes.Code
			field string
		}{
			{"no customer", &ingestionv1.UpdateCustomerConsentRequest{Consents: []*ingestionv1.ConsentChange{{Purpose: "analytics", Granted: proto.Bool(true)}}},
				codes.InvalidArgument, "customer_id"},
			{"no changes", &ingestionv1.UpdateCustomerConsentRequest{CustomerId: cus}, codes.InvalidArgument, "consents"},
			{"bad purpose", &ingestionv1.UpdateCustomerConsentRequest{CustomerId: cus,
				Consents: []*ingestionv1.ConsentChange{{Purpose: "Marketing Email", Granted: proto.Bool(true)}}}, codes.InvalidArgument, "consents[0].purpose"},
			{"granted missing", &ingestionv1.UpdateCustomerConsentRequest{CustomerId: cus,
				Consents: []*ingestionv1.ConsentChange{{Purpose: "analytics"}}}, codes.InvalidArgument, "consents[0].granted"},
			{"purpose twice", &ingestionv1.UpdateCustomerConsentRequest{CustomerId: cus, Consents: []*ingestionv1.ConsentChange{
				{Purpose: "analytics", Granted: proto.Bool(true)}, {Purpose: "analytics", Granted: proto.Bool(false)}}}, codes.InvalidArgument, "consents[1].purpose"},
			{"future time", &ingestionv1.UpdateCustomerConsentRequest{CustomerId: cus, Consents: []*ingestionv1.ConsentChange{
				{Purpose: "analytics", Granted: proto.Bool(true), Time: timestamppb.New(time.Now().Add(time.Hour))}}}, codes.InvalidArgument, "consents[0].time"},
			{"source too long", &ingestionv1.UpdateCustomerConsentRequest{CustomerId: cus, Consents: []*ingestionv1.ConsentChange{
				{Purpose: "analytics", Granted: proto.Bool(true), Source: strings.Repeat("x", 101)}}}, codes.InvalidArgument, "consents[0].source"},
			{"unknown customer", &ingestionv1.UpdateCustomerConsentRequest{CustomerId: "cus_nobody",
				Consents: []*ingestionv1.ConsentChange{{Purpose: "analytics", Granted: proto.Bool(true)}}}, codes.NotFound, ""},
		} {
			t.Run(tt.name, func(t *testing.T) {
				st := status.Convert(func() error { _, err := customers.UpdateCustomerConsent(ctx, tt.req); return err }())
				if st.Code() != tt.code {
					t.Fatalf("code = %v (%s), want %v", st.Code(), st.Message(), tt.code)
				}
				if tt.field == "" {
					return
				}
				for _, d := range st.Details() {
					if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 && br.GetFieldViolations()[0].GetField() == tt.field {
						return
					}
				}
				t.Errorf("no violation of field %s in %v", tt.field, st.Details())
			})
		}
	})
}
