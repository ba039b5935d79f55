package segmentation_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	segmentationv1 "github.com/kizuna/kizuna/gen/kizuna/segmentation/v1"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/grpctest"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/segmentation"
)

// Two workspaces and their keys.
const (
	keyA, wsA = "kz_key_a", "ws_a"
	keyB, wsB = "kz_key_b", "ws_b"
)

// membershipDeadline bounds how long a test waits for membership to follow
// an event; the service aims for well under a second, but a first event
// also creates and backfills the built-in segments, and CI machines are busy.
const membershipDeadline = 20 * time.Second

type harness struct {
	bus     *bus.Bus
	client  segmentationv1.SegmentServiceClient
	changes *changeLog
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start runs the service (gRPC server and Run) on b with a fresh SQLite
// database and records every SegmentMembershipChanged published.
func start(t testing.TB, b *bus.Bus, sweep time.Duration, now func() time.Time) *harness {
	t.Helper()
	return startLogged(t, b, sweep, now, quietLogger())
}

// startLogged is start with the service logging to log.
func startLogged(t testing.TB, b *bus.Bus, sweep time.Duration, now func() time.Time, log *slog.Logger) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	svc, err := segmentation.New(ctx, segmentation.Options{
		DB: sqldbtest.SQLite(t), Bus: b, Logger: log, SweepInterval: sweep, Now: now,
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	addr := grpctest.Start(t, svc.Register, grpctest.WithVerifier(auth.StaticKeys{keyA: wsA, keyB: wsB}))
	h := &harness{bus: b, client: segmentationv1.NewSegmentServiceClient(grpctest.Dial(t, addr)), changes: &changeLog{}}
	stop, err := b.Consume(ctx, bus.Consumer{
		Kind:    bus.KindMembership,
		Durable: "test-observer",
		Handler: func(_ context.Context, m bus.Message) error {
			var c segmentationv1.SegmentMembershipChanged
			if err := m.Unmarshal(&c); err != nil {
				return err
			}
			if got, want := m.Headers.Get(bus.TypeHeader), string(c.ProtoReflect().Descriptor().FullName()); got != want {
				return fmt.Errorf("membership message type %q, want %q (the contract's name)", got, want)
			}
			h.changes.add(m.Subject, &c)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return h
}

// changeLog collects published membership changes.
type changeLog struct {
	mu       sync.Mutex
	subjects []string
	changes  []*segmentationv1.SegmentMembershipChanged
}

func (l *changeLog) add(subject string, c *segmentationv1.SegmentMembershipChanged) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.subjects = append(l.subjects, subject)
	l.changes = append(l.changes, c)
}

// find returns the change for (segment, customer, joined) and its subject.
func (l *changeLog) find(segmentID, customerID string, joined bool) (*segmentationv1.SegmentMembershipChanged, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, c := range l.changes {
		if c.GetSegmentId() == segmentID && c.GetCustomerId() == customerID && c.GetJoined() == joined {
			return c, l.subjects[i]
		}
	}
	return nil, ""
}

func (l *changeLog) count(segmentID string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, c := range l.changes {
		if c.GetSegmentId() == segmentID {
			n++
		}
	}
	return n
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(membershipDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", membershipDeadline, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *harness) publish(t testing.TB, ws, msgID string, msg *ingestionv1.IngestionBusMessage) {
	t.Helper()
	kind := "event_recorded"
	switch {
	case msg.GetCustomerMerged() != nil:
		kind = "customer_merged"
	case msg.GetCustomerUnmerged() != nil:
		kind = "customer_unmerged"
	}
	if err := h.bus.Publish(context.Background(), h.bus.Subject(bus.KindEvents, ws, kind), msgID, msg); err != nil {
		t.Fatal(err)
	}
}

func event(ws, id, customer string, typ ingestionv1.EventType, name string, at time.Time, traits map[string]any) *ingestionv1.IngestionBusMessage {
	e := &ingestionv1.Event{
		EventId: id, WorkspaceId: ws, CustomerId: customer, Type: typ, Name: name,
		Timestamp: timestamppb.New(at), ReceiveTime: timestamppb.New(at),
	}
	if traits != nil {
		e.Traits = mustStruct(traits)
	}
	return &ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_EventRecorded{EventRecorded: e}}
}

func mustStruct(m map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(m)
	if err != nil {
		panic(err) // test literals only
	}
	return s
}

func members(t testing.TB, h *harness, key, segmentID string) []string {
	t.Helper()
	resp, err := h.client.ListSegmentMembers(auth.WithBearer(context.Background(), key),
		&segmentationv1.ListSegmentMembersRequest{SegmentId: segmentID, PageSize: 1000})
	if err != nil {
		t.Fatalf("ListSegmentMembers: %v", err)
	}
	out := []string{}
	for _, m := range resp.GetMembers() {
		out = append(out, m.GetCustomerId())
	}
	return out
}

func createSegment(t testing.TB, h *harness, key, name string, conds ...*segmentationv1.Condition) *segmentationv1.Segment {
	t.Helper()
	resp, err := h.client.CreateSegment(auth.WithBearer(context.Background(), key), &segmentationv1.CreateSegmentRequest{
		Segment: &segmentationv1.Segment{DisplayName: name, Rule: &segmentationv1.Rule{All: conds}},
	})
	if err != nil {
		t.Fatalf("CreateSegment %s: %v", name, err)
	}
	return resp.GetSegment()
}

func traitCond(key, equals string) *segmentationv1.Condition {
	return &segmentationv1.Condition{Kind: &segmentationv1.Condition_Trait{Trait: &segmentationv1.TraitCondition{Key: key, Equals: equals}}}
}

func eventCond(name string, min, days int32) *segmentationv1.Condition {
	return &segmentationv1.Condition{Kind: &segmentationv1.Condition_Event{Event: &segmentationv1.EventCondition{Event: name, MinCount: min, WithinDays: days}}}
}

func TestService(t *testing.T) {
	bustest.ForEachBackend(t, func(t *testing.T, b *bus.Bus) {
		h := start(t, b, time.Minute, nil)
		t.Run("MembershipFollowsEvents", func(t *testing.T) { testMembershipFollowsEvents(t, h) })
		t.Run("IdempotentAndBackfill", func(t *testing.T) { testIdempotentAndBackfill(t, h) })
		t.Run("WorkspaceIsolation", func(t *testing.T) { testWorkspaceIsolation(t, h) })
		t.Run("MergeAndFeatures", func(t *testing.T) { testMergeAndFeatures(t, h) })
		t.Run("PagingAndErrors", func(t *testing.T) { testPagingAndErrors(t, h) })
	})
}

func testMembershipFollowsEvents(t *testing.T, h *harness) {
	ctx := auth.WithBearer(context.Background(), keyA)
	seg := createSegment(t, h, keyA, "Pro plan", traitCond("plan", "pro"))
	if seg.GetSize() != 0 || seg.GetSegmentId()[:4] != "seg_" || seg.GetCreateTime() == nil {
		t.Fatalf("created %v; want seg_ id, size 0, create time", seg)
	}
	start := time.Now()
	h.publish(t, wsA, "ev-1", event(wsA, "ev-1", "cus_1", ingestionv1.EventType_EVENT_TYPE_IDENTIFY, "", time.Now(), map[string]any{"plan": "pro"}))
	eventually(t, "cus_1 to join", func() bool { return reflect.DeepEqual(members(t, h, keyA, seg.GetSegmentId()), []string{"cus_1"}) })
	t.Logf("membership current %s after publishing", time.Since(start).Round(time.Millisecond))

	eventually(t, "the join to be published", func() bool { c, _ := h.changes.find(seg.GetSegmentId(), "cus_1", true); return c != nil })
	c, subject := h.changes.find(seg.GetSegmentId(), "cus_1", true)
	if want := h.bus.Subject(bus.KindMembership, wsA, seg.GetSegmentId()); subject != want {
		t.Errorf("published on %q, want %q", subject, want)
	}
	if c.GetWorkspaceId() != wsA || c.GetChangeId() == "" || c.GetChangeTime() == nil {
		t.Errorf("change = %v; want workspace %s, an id and a time", c, wsA)
	}

	got, err := h.client.ListCustomerSegments(ctx, &segmentationv1.ListCustomerSegmentsRequest{CustomerId: "cus_1"})
	if own := ownSegments(got.GetSegments()); err != nil || len(own) != 1 || own[0].GetSize() != 1 {
		t.Errorf("ListCustomerSegments = %v, %v; want [Pro plan size 1]", got, err)
	}

	h.publish(t, wsA, "ev-2", event(wsA, "ev-2", "cus_1", ingestionv1.EventType_EVENT_TYPE_IDENTIFY, "", time.Now(), map[string]any{"plan": "free"}))
	eventually(t, "cus_1 to leave", func() bool { return len(members(t, h, keyA, seg.GetSegmentId())) == 0 })
	eventually(t, "the leave to be published", func() bool { c, _ := h.changes.find(seg.GetSegmentId(), "cus_1", false); return c != nil })
}

func testIdempotentAndBackfill(t *testing.T, h *harness) {
	now := time.Now()
	// The same event delivered twice (a publisher retry after the duplicate
	// window, or a redelivery) must count once.
	viewed := event(wsA, "view-1", "cus_2", ingestionv1.EventType_EVENT_TYPE_TRACK, "Viewed Product", now, nil)
	h.publish(t, wsA, "view-1", viewed)
	h.publish(t, wsA, "view-1-retry", viewed) // new msg id defeats NATS dedupe; event id still the same
	h.publish(t, wsA, "page-1", event(wsA, "page-1", "cus_3", ingestionv1.EventType_EVENT_TYPE_PAGE, "Viewed Product", now, nil))
	h.publish(t, wsA, "page-2", event(wsA, "page-2", "cus_3", ingestionv1.EventType_EVENT_TYPE_PAGE, "Viewed Product", now, nil))
	// A marker event for a customer of its own, published last: once it is
	// visible, everything before it on the stream has been applied.
	marker := createSegment(t, h, keyA, "marker", eventCond("marker", 1, 1))
	h.publish(t, wsA, "marker-1", event(wsA, "marker-1", "cus_marker", ingestionv1.EventType_EVENT_TYPE_TRACK, "marker", now, nil))
	eventually(t, "the marker event", func() bool { return len(members(t, h, keyA, marker.GetSegmentId())) == 1 })

	seg := createSegment(t, h, keyA, "Twice viewers", eventCond("Viewed Product", 2, 7))
	if seg.GetSize() != 1 {
		t.Errorf("backfilled size = %d, want 1", seg.GetSize())
	}
	if got, want := members(t, h, keyA, seg.GetSegmentId()), []string{"cus_3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("backfilled members = %v, want %v (cus_2's one event was delivered twice)", got, want)
	}
	h.publish(t, wsA, "view-2", event(wsA, "view-2", "cus_2", ingestionv1.EventType_EVENT_TYPE_TRACK, "Viewed Product", now, nil))
	eventually(t, "cus_2 to join after a second distinct event", func() bool {
		return reflect.DeepEqual(members(t, h, keyA, seg.GetSegmentId()), []string{"cus_2", "cus_3"})
	})
	feats, err := h.client.GetCustomerFeatures(auth.WithBearer(context.Background(), keyA),
		&segmentationv1.GetCustomerFeaturesRequest{CustomerId: "cus_2"})
	if err != nil || feats.GetFeatures().GetEventCount() != 2 {
		t.Errorf("cus_2 features = %v, %v; want event_count 2 (three deliveries of two events)", feats, err)
	}
}

func testWorkspaceIsolation(t *testing.T, h *harness) {
	ctxA := auth.WithBearer(context.Background(), keyA)
	ctxB := auth.WithBearer(context.Background(), keyB)
	segA := createSegment(t, h, keyA, "A only", traitCond("tier", "gold"))
	h.publish(t, wsB, "b-1", event(wsB, "b-1", "cus_shared", ingestionv1.EventType_EVENT_TYPE_IDENTIFY, "", time.Now(), map[string]any{"tier": "gold"}))
	segB := createSegment(t, h, keyB, "B gold", traitCond("tier", "gold"))
	eventually(t, "the ws_b customer to join ws_b's segment", func() bool {
		return reflect.DeepEqual(members(t, h, keyB, segB.GetSegmentId()), []string{"cus_shared"})
	})
	if got := members(t, h, keyA, segA.GetSegmentId()); len(got) != 0 {
		t.Errorf("ws_a segment has members %v from ws_b", got)
	}
	notFound := []struct {
		name string
		call func() error
	}{
		{"GetSegment", func() error {
			_, err := h.client.GetSegment(ctxB, &segmentationv1.GetSegmentRequest{SegmentId: segA.GetSegmentId()})
			return err
		}},
		{"ListSegmentMembers", func() error {
			_, err := h.client.ListSegmentMembers(ctxB, &segmentationv1.ListSegmentMembersRequest{SegmentId: segA.GetSegmentId()})
			return err
		}},
		{"DeleteSegment", func() error {
			_, err := h.client.DeleteSegment(ctxB, &segmentationv1.DeleteSegmentRequest{SegmentId: segA.GetSegmentId()})
			return err
		}},
		{"GetCustomerFeatures", func() error {
			_, err := h.client.GetCustomerFeatures(ctxA, &segmentationv1.GetCustomerFeaturesRequest{CustomerId: "cus_shared"})
			return err
		}},
	}
	for _, tt := range notFound {
		t.Run(tt.name, func(t *testing.T) {
			if code := status.Code(tt.call()); code != codes.NotFound {
				t.Errorf("code = %v, want NotFound", code)
			}
		})
	}
	list, err := h.client.ListSegments(ctxB, &segmentationv1.ListSegmentsRequest{})
	if own := ownSegments(list.GetSegments()); err != nil || len(own) != 1 || own[0].GetSegmentId() != segB.GetSegmentId() {
		t.Errorf("ws_b ListSegments = %v, %v; want only its own segment", list, err)
	}
	if got, err := h.client.ListCustomerSegments(ctxA, &segmentationv1.ListCustomerSegmentsRequest{CustomerId: "cus_shared"}); err != nil || len(got.GetSegments()) != 0 {
		t.Errorf("ws_a sees ws_b customer's segments: %v, %v", got, err)
	}
	// Deleting within the right workspace works once.
	if _, err := h.client.DeleteSegment(ctxB, &segmentationv1.DeleteSegmentRequest{SegmentId: segB.GetSegmentId()}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.client.GetSegment(ctxB, &segmentationv1.GetSegmentRequest{SegmentId: segB.GetSegmentId()}); status.Code(err) != codes.NotFound {
		t.Errorf("GetSegment after delete: %v, want NotFound", err)
	}
}

func testMergeAndFeatures(t *testing.T, h *harness) {
	ctx := auth.WithBearer(context.Background(), keyA)
	seg := createSegment(t, h, keyA, "Buyers", &segmentationv1.Condition{Kind: &segmentationv1.Condition_Rfm{Rfm: &segmentationv1.RfmCondition{}}})
	now := time.Now().UTC().Truncate(time.Microsecond)
	order := event(wsA, "ord-1", "cus_anon", ingestionv1.EventType_EVENT_TYPE_TRACK, "Order Completed", now, nil)
	order.GetEventRecorded().Order = &ingestionv1.Order{OrderId: "o-1", Revenue: 42.5, Currency: "JPY"}
	h.publish(t, wsA, "ord-1", order)
	eventually(t, "the buyer to join", func() bool {
		return reflect.DeepEqual(members(t, h, keyA, seg.GetSegmentId()), []string{"cus_anon"})
	})
	h.publish(t, wsA, "id-9", event(wsA, "id-9", "cus_user", ingestionv1.EventType_EVENT_TYPE_IDENTIFY, "", now, map[string]any{"plan": "x"}))
	merge := &ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_CustomerMerged{CustomerMerged: &ingestionv1.CustomerMerged{
		MergeId: "merge-1", WorkspaceId: wsA, SurvivorCustomerId: "cus_user", MergedCustomerIds: []string{"cus_anon"}, MergeTime: timestamppb.New(now),
	}}}
	h.publish(t, wsA, "merge-1", merge)
	eventually(t, "the survivor to replace the merged customer", func() bool {
		return reflect.DeepEqual(members(t, h, keyA, seg.GetSegmentId()), []string{"cus_user"})
	})
	eventually(t, "leave and join to be published", func() bool {
		l, _ := h.changes.find(seg.GetSegmentId(), "cus_anon", false)
		j, _ := h.changes.find(seg.GetSegmentId(), "cus_user", true)
		return l != nil && j != nil
	})
	resp, err := h.client.GetCustomerFeatures(ctx, &segmentationv1.GetCustomerFeaturesRequest{CustomerId: "cus_user"})
	if err != nil {
		t.Fatal(err)
	}
	want := &segmentationv1.CustomerFeatures{
		CustomerId: "cus_user", OrderCount: 1, Revenue: 42.5, LastOrderTime: timestamppb.New(now),
		RecencyScore:   5, // the only buyer, who bought just now: as recent as can be
		FrequencyScore: 1, MonetaryScore: 1, EventCount: 2,
		LifecycleStage: segmentationv1.LifecycleStage_LIFECYCLE_STAGE_NEW,
	}
	if !proto.Equal(resp.GetFeatures(), want) {
		t.Errorf("features = %v, want %v", resp.GetFeatures(), want)
	}
}

func testPagingAndErrors(t *testing.T, h *harness) {
	ctx := auth.WithBearer(context.Background(), keyA)
	seg := createSegment(t, h, keyA, "Paged", traitCond("cohort", "p"))
	ids := []string{"p_1", "p_2", "p_3"}
	for _, id := range ids {
		h.publish(t, wsA, "ev-"+id, event(wsA, "ev-"+id, id, ingestionv1.EventType_EVENT_TYPE_IDENTIFY, "", time.Now(), map[string]any{"cohort": "p"}))
	}
	eventually(t, "three members", func() bool { return len(members(t, h, keyA, seg.GetSegmentId())) == 3 })
	var got []string
	token := ""
	for page := 0; ; page++ {
		resp, err := h.client.ListSegmentMembers(ctx, &segmentationv1.ListSegmentMembersRequest{SegmentId: seg.GetSegmentId(), PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetTotalSize() != 3 {
			t.Errorf("total_size = %d, want 3", resp.GetTotalSize())
		}
		for _, m := range resp.GetMembers() {
			got = append(got, m.GetCustomerId())
		}
		token = resp.GetNextPageToken()
		if token == "" || page > 3 {
			break
		}
	}
	if !sort.StringsAreSorted(got) || !reflect.DeepEqual(got, ids) {
		t.Errorf("paged members = %v, want %v", got, ids)
	}

	all, err := h.client.ListSegments(ctx, &segmentationv1.ListSegmentsRequest{PageSize: 500})
	if err != nil || all.GetNextPageToken() != "" || len(all.GetSegments()) < 2 {
		t.Fatalf("ListSegments = %d segments, token %q, %v; want all of them in one page", len(all.GetSegments()), all.GetNextPageToken(), err)
	}
	var paged []string
	token = ""
	for range len(all.GetSegments()) + 1 {
		resp, err := h.client.ListSegments(ctx, &segmentationv1.ListSegmentsRequest{PageSize: 1, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range resp.GetSegments() {
			paged = append(paged, s.GetSegmentId())
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	var want []string
	for _, s := range all.GetSegments() {
		want = append(want, s.GetSegmentId())
	}
	if !reflect.DeepEqual(paged, want) || !sort.StringsAreSorted(paged) {
		t.Errorf("segments paged one by one = %v, want %v in creation order", paged, want)
	}

	errTests := []struct {
		name      string
		ctx       context.Context
		call      func(ctx context.Context) error
		wantCode  codes.Code
		wantField string
	}{
		{"no key", context.Background(), func(ctx context.Context) error {
			_, err := h.client.ListSegments(ctx, &segmentationv1.ListSegmentsRequest{})
			return err
		}, codes.Unauthenticated, ""},
		{"within_days out of range", ctx, func(ctx context.Context) error {
			_, err := h.client.CreateSegment(ctx, &segmentationv1.CreateSegmentRequest{Segment: &segmentationv1.Segment{
				DisplayName: "bad", Rule: &segmentationv1.Rule{All: []*segmentationv1.Condition{traitCond("a", "b"), eventCond("x", 1, 3651)}},
			}})
			return err
		}, codes.InvalidArgument, "segment.rule.all[1].event.within_days"},
		{"missing segment", ctx, func(ctx context.Context) error {
			_, err := h.client.CreateSegment(ctx, &segmentationv1.CreateSegmentRequest{})
			return err
		}, codes.InvalidArgument, "segment"},
		{"foreign page token", ctx, func(ctx context.Context) error {
			other := createSegment(t, h, keyA, "Other", traitCond("cohort", "q"))
			first, err := h.client.ListSegmentMembers(ctx, &segmentationv1.ListSegmentMembersRequest{SegmentId: seg.GetSegmentId(), PageSize: 1})
			if err != nil {
				return err
			}
			_, err = h.client.ListSegmentMembers(ctx, &segmentationv1.ListSegmentMembersRequest{SegmentId: other.GetSegmentId(), PageToken: first.GetNextPageToken()})
			return err
		}, codes.InvalidArgument, "page_token"},
		{"garbage page token", ctx, func(ctx context.Context) error {
			_, err := h.client.ListSegments(ctx, &segmentationv1.ListSegmentsRequest{PageToken: "!!!"})
			return err
		}, codes.InvalidArgument, "page_token"},
		{"negative page size", ctx, func(ctx context.Context) error {
			_, err := h.client.ListSegmentMembers(ctx, &segmentationv1.ListSegmentMembersRequest{SegmentId: seg.GetSegmentId(), PageSize: -1})
			return err
		}, codes.InvalidArgument, "page_size"},
		{"empty customer id", ctx, func(ctx context.Context) error {
			_, err := h.client.GetCustomerFeatures(ctx, &segmentationv1.GetCustomerFeaturesRequest{})
			return err
		}, codes.InvalidArgument, "customer_id"},
		{"unknown segment", ctx, func(ctx context.Context) error {
			_, err := h.client.DeleteSegment(ctx, &segmentationv1.DeleteSegmentRequest{SegmentId: "seg_nope"})
			return err
		}, codes.NotFound, ""},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(tt.ctx)
			st := status.Convert(err)
			if st.Code() != tt.wantCode {
				t.Fatalf("code = %v (%v), want %v", st.Code(), err, tt.wantCode)
			}
			if tt.wantField == "" {
				return
			}
			var fields []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						fields = append(fields, v.GetField())
					}
				}
			}
			if !reflect.DeepEqual(fields, []string{tt.wantField}) {
				t.Errorf("field violations = %v, want [%s]", fields, tt.wantField)
			}
		})
	}
}

// TestSweepSlidesWindows checks that Run's sweep drops a member whose
// events age out of the window without any new event arriving.
func TestSweepSlidesWindows(t *testing.T) {
	var mu sync.Mutex
	offset := time.Duration(0)
	now := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return time.Now().Add(offset)
	}
	h := start(t, bustest.Embedded(t), 20*time.Millisecond, now)
	seg := createSegment(t, h, keyA, "Today", eventCond("Opened", 1, 1))
	h.publish(t, wsA, "open-1", event(wsA, "open-1", "cus_s", ingestionv1.EventType_EVENT_TYPE_TRACK, "Opened", time.Now(), nil))
	eventually(t, "cus_s to join", func() bool { return len(members(t, h, keyA, seg.GetSegmentId())) == 1 })
	mu.Lock()
	offset = 24*time.Hour + time.Second // the event is now just outside the 1-day window
	mu.Unlock()
	eventually(t, "the sweep to drop cus_s", func() bool { return len(members(t, h, keyA, seg.GetSegmentId())) == 0 })
	eventually(t, "join and leave to be published", func() bool {
		j, _ := h.changes.find(seg.GetSegmentId(), "cus_s", true)
		l, _ := h.changes.find(seg.GetSegmentId(), "cus_s", false)
		return j != nil && l != nil
	})
}

// TestUnmerge undoes a merge over the bus: the restored customer is back in
// its segments, the survivor leaves them, and a malformed unmerge before it
// is logged and dropped without effect.
func TestUnmerge(t *testing.T) {
	bustest.ForEachBackend(t, func(t *testing.T, b *bus.Bus) {
		logs := &logRecorder{}
		h := startLogged(t, b, time.Minute, nil, slog.New(logs))
		ctx := auth.WithBearer(context.Background(), keyA)
		clickers := createSegment(t, h, keyA, "Ad clickers", eventCond("Clicked Ad", 1, 7))
		kyoto := createSegment(t, h, keyA, "Kyoto", traitCond("city", "Kyoto"))
		now := time.Now().UTC().Truncate(time.Microsecond)
		h.publish(t, wsA, "un-i1", event(wsA, "un-i1", "cus_r", ingestionv1.EventType_EVENT_TYPE_IDENTIFY, "", now, map[string]any{"city": "Kyoto"}))
		h.publish(t, wsA, "un-t1", event(wsA, "un-t1", "cus_r", ingestionv1.EventType_EVENT_TYPE_TRACK, "Clicked Ad", now, nil))
		h.publish(t, wsA, "un-i2", event(wsA, "un-i2", "cus_s", ingestionv1.EventType_EVENT_TYPE_IDENTIFY, "", now, map[string]any{"plan": "x"}))
		h.publish(t, wsA, "merge-u", &ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_CustomerMerged{CustomerMerged: &ingestionv1.CustomerMerged{
			MergeId: "merge-u", WorkspaceId: wsA, SurvivorCustomerId: "cus_s", MergedCustomerIds: []string{"cus_r"}, MergeTime: timestamppb.New(now),
		}}})
		both := func(want []string) func() bool {
			return func() bool {
				return reflect.DeepEqual(members(t, h, keyA, clickers.GetSegmentId()), want) && reflect.DeepEqual(members(t, h, keyA, kyoto.GetSegmentId()), want)
			}
		}
		eventually(t, "the survivor to take the merged customer's segments", both([]string{"cus_s"}))

		unmerge := func(id, restored string, events ...string) *ingestionv1.IngestionBusMessage {
			return &ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_CustomerUnmerged{CustomerUnmerged: &ingestionv1.CustomerUnmerged{
				UnmergeId: id, WorkspaceId: wsA, MergeId: "merge-u", SurvivorCustomerId: "cus_s", RestoredCustomerId: restored, EventIds: events,
				RestoredTraits: mustStruct(map[string]any{"city": "Kyoto"}), SurvivorTraits: mustStruct(map[string]any{"plan": "x"}),
				UndoTime: timestamppb.New(now), RestoredFirstSeenTime: timestamppb.New(now), SurvivorFirstSeenTime: timestamppb.New(now),
			}}}
		}
		// Restores the survivor into itself: applied, it would strip cus_s
		// of the Kyoto trait and the click.
		h.publish(t, wsA, "unmerge-bad", unmerge("unmerge-bad", "cus_s", "un-i1", "un-t1"))
		h.publish(t, wsA, "unmerge-1", unmerge("unmerge-1", "cus_r", "un-i1", "un-t1"))
		h.publish(t, wsA, "unmerge-1-retry", unmerge("unmerge-1", "cus_r", "un-i1", "un-t1")) // new msg id defeats NATS dedupe
		eventually(t, "the restored customer to be back in its segments", both([]string{"cus_r"}))
		eventually(t, "the survivor's leaves to be published", func() bool {
			// +cus_r, -cus_r (merge), +cus_s, then -cus_s, +cus_r (unmerge)
			return h.changes.count(clickers.GetSegmentId()) == 5 && h.changes.count(kyoto.GetSegmentId()) == 5
		})
		// A marker published last: once applied, the retry before it was too.
		marker := createSegment(t, h, keyA, "unmerge marker", eventCond("unmerge marker", 1, 1))
		h.publish(t, wsA, "un-marker", event(wsA, "un-marker", "cus_un_marker", ingestionv1.EventType_EVENT_TYPE_TRACK, "unmerge marker", now, nil))
		eventually(t, "the marker event", func() bool { return len(members(t, h, keyA, marker.GetSegmentId())) == 1 })
		for customer, want := range map[string]int64{"cus_r": 2, "cus_s": 1} {
			resp, err := h.client.GetCustomerFeatures(ctx, &segmentationv1.GetCustomerFeaturesRequest{CustomerId: customer})
			if err != nil || resp.GetFeatures().GetEventCount() != want {
				t.Errorf("features of %s = %v, %v; want event_count %d (the retry applied once)", customer, resp.GetFeatures(), err, want)
			}
		}
		if !logs.has("segmentation: dropping invalid message", "unmerge-bad") {
			t.Errorf("no log of the invalid unmerge being dropped; logged %v", logs.messages())
		}
	})
}

// logRecorder is a slog.Handler remembering each record's message and
// msg_id attribute.
type logRecorder struct {
	mu      sync.Mutex
	records [][2]string
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	msgID := ""
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "msg_id" {
			msgID = a.Value.String()
		}
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, [2]string{r.Message, msgID})
	return nil
}

func (l *logRecorder) has(msg, msgID string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range l.records {
		if r == [2]string{msg, msgID} {
			return true
		}
	}
	return false
}

func (l *logRecorder) messages() [][2]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([][2]string(nil), l.records...)
}

// ownSegments drops the built-in segments every workspace has.
func ownSegments(segs []*segmentationv1.Segment) []*segmentationv1.Segment {
	var out []*segmentationv1.Segment
	for _, s := range segs {
		if !s.GetBuiltIn() {
			out = append(out, s)
		}
	}
	return out
}
