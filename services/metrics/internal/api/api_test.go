package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	segmentationv1 "github.com/kizuna/kizuna/gen/kizuna/segmentation/v1"
	"github.com/kizuna/kizuna/services/metrics/internal/kpi"

	"github.com/kizuna/kizuna/services/platform/validation"
)

// pagedClient is a SegmentServiceClient whose ListSegmentMembers replays
// canned pages (or an error) in order.
type pagedClient struct {
	segmentationv1.SegmentServiceClient
	pages []*segmentationv1.ListSegmentMembersResponse
	err   error
	calls int
}

func (c *pagedClient) ListSegmentMembers(_ context.Context, req *segmentationv1.ListSegmentMembersRequest, _ ...grpc.CallOption) (*segmentationv1.ListSegmentMembersResponse, error) {
	if c.err != nil {
		return nil, c.err
	}
	if req.GetPageSize() != membersPageSize {
		return nil, fmt.Errorf("page_size %d", req.GetPageSize())
	}
	if want := fmt.Sprint(c.calls); c.calls > 0 && req.GetPageToken() != "t"+want {
		return nil, fmt.Errorf("page %d requested with token %q", c.calls, req.GetPageToken())
	}
	p := c.pages[c.calls]
	c.calls++
	return p, nil
}

func page(next string, total int64, ids ...string) *segmentationv1.ListSegmentMembersResponse {
	p := &segmentationv1.ListSegmentMembersResponse{NextPageToken: next, TotalSize: total}
	for _, id := range ids {
		p.Members = append(p.Members, &segmentationv1.SegmentMember{CustomerId: id})
	}
	return p
}

func TestSegmentsMembers(t *testing.T) {
	tests := []struct {
		name    string
		client  *pagedClient
		limit   int
		want    []string
		wantErr error
		wantVio string
	}{
		{
			name:   "pages until no token",
			client: &pagedClient{pages: []*segmentationv1.ListSegmentMembersResponse{page("t1", 3, "a", "b"), page("", 3, "c")}},
			limit:  10,
			want:   []string{"a", "b", "c"},
		},
		{
			name:   "empty segment",
			client: &pagedClient{pages: []*segmentationv1.ListSegmentMembersResponse{page("", 0)}},
			limit:  10,
		},
		{
			name:    "total size over the limit stops at once",
			client:  &pagedClient{pages: []*segmentationv1.ListSegmentMembersResponse{page("t1", 11, "a")}},
			limit:   10,
			wantErr: kpi.ErrScopeTooLarge,
		},
		{
			name:    "members over the limit despite total size",
			client:  &pagedClient{pages: []*segmentationv1.ListSegmentMembersResponse{page("t1", 1, "a", "b"), page("", 1, "c")}},
			limit:   2,
			wantErr: kpi.ErrScopeTooLarge,
		},
		{name: "not found", client: &pagedClient{err: status.Error(codes.NotFound, "x")}, limit: 10, wantErr: kpi.ErrSegmentNotFound},
		{name: "unavailable", client: &pagedClient{err: status.Error(codes.Unavailable, "x")}, limit: 10, wantErr: kpi.ErrSegmentsUnavailable},
		{name: "deadline", client: &pagedClient{err: status.Error(codes.DeadlineExceeded, "x")}, limit: 10, wantErr: kpi.ErrSegmentsUnavailable},
		{name: "canceled", client: &pagedClient{err: status.Error(codes.Canceled, "x")}, limit: 10, wantErr: context.Canceled},
		{name: "malformed segment id", client: &pagedClient{err: status.Error(codes.InvalidArgument, "bad id")}, limit: 10, wantVio: "segment_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Segments{client: tt.client}
			got, err := s.Members(context.Background(), "seg", tt.limit)
			var ve *validation.Error
			switch {
			case tt.wantVio != "":
				if !errors.As(err, &ve) || ve.Violations[0].Field != tt.wantVio {
					t.Fatalf("err = %v, want violation on %s", err, tt.wantVio)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("members = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSegmentsMembersRepeatedToken(t *testing.T) {
	c := &loopClient{}
	if _, err := (&Segments{client: c}).Members(context.Background(), "seg", 1000); err == nil {
		t.Fatal("want error for a repeated page token")
	}
	if c.calls > 3 {
		t.Errorf("%d calls; a repeated token must stop paging", c.calls)
	}
}

// loopClient always answers with the same next page token.
type loopClient struct {
	segmentationv1.SegmentServiceClient
	calls int
}

func (c *loopClient) ListSegmentMembers(context.Context, *segmentationv1.ListSegmentMembersRequest, ...grpc.CallOption) (*segmentationv1.ListSegmentMembersResponse, error) {
	c.calls++
	return page("same", 0, "a"), nil
}

func TestToStatus(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantCode   codes.Code
		wantFields []string
		wantHidden string
	}{
		{
			name:       "validation",
			err:        fmt.Errorf("compute: %w", &validation.Error{Violations: []validation.Violation{{Field: "kpi", Description: "unknown"}, {Field: "start_time", Description: "late"}}}),
			wantCode:   codes.InvalidArgument,
			wantFields: []string{"kpi", "start_time"},
		},
		{name: "segment not found", err: fmt.Errorf("x: %w", kpi.ErrSegmentNotFound), wantCode: codes.NotFound, wantFields: []string{"segment_id"}},
		{name: "too large", err: kpi.ErrScopeTooLarge, wantCode: codes.FailedPrecondition, wantFields: []string{"segment_id"}},
		{name: "segmentation down", err: fmt.Errorf("x: %w", kpi.ErrSegmentsUnavailable), wantCode: codes.Unavailable},
		{name: "deadline", err: fmt.Errorf("query: %w", context.DeadlineExceeded), wantCode: codes.DeadlineExceeded},
		{name: "unknown is internal and hides the cause", err: errors.New("pq: secret table broke"), wantCode: codes.Internal, wantHidden: "secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := status.Convert(toStatus(tt.err))
			if st.Code() != tt.wantCode {
				t.Errorf("code = %v, want %v", st.Code(), tt.wantCode)
			}
			var fields []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						fields = append(fields, v.GetField())
					}
				}
			}
			if strings.Join(fields, ",") != strings.Join(tt.wantFields, ",") {
				t.Errorf("field violations = %v, want %v", fields, tt.wantFields)
			}
			if tt.wantHidden != "" && strings.Contains(st.Message(), tt.wantHidden) {
				t.Errorf("client message %q leaks %q", st.Message(), tt.wantHidden)
			}
		})
	}
}
