package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	segmentationv1 "github.com/kizuna/kizuna/gen/kizuna/segmentation/v1"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"

	"github.com/kizuna/kizuna/services/platform/validation"
)

func TestPageSize(t *testing.T) {
	tests := []struct {
		name      string
		requested int32
		want      int
		wantErr   bool
	}{
		{"default", 0, 100, false},
		{"as asked", 7, 7, false},
		{"at max", 10_000, 10_000, false},
		{"above max is coerced", 10_001, 10_000, false},
		{"negative", -1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := pageSize(tt.requested, defaultMemberPage, maxMemberPage)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("pageSize(%d) = %d, %v; want %d, err %v", tt.requested, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestPageToken(t *testing.T) {
	good := encodePageToken("members", "seg_1", "cus_9")
	tests := []struct {
		name, token, list, scope string
		want                     string
		wantErr                  bool
	}{
		{name: "empty is the first page", token: "", list: "members", scope: "seg_1", want: ""},
		{name: "round trip", token: good, list: "members", scope: "seg_1", want: "cus_9"},
		{name: "other segment", token: good, list: "members", scope: "seg_2", wantErr: true},
		{name: "other list", token: good, list: "segments", scope: "", wantErr: true},
		{name: "not base64", token: "%%%", list: "members", scope: "seg_1", wantErr: true},
		{name: "not json", token: "bm90IGpzb24", list: "members", scope: "seg_1", wantErr: true},
		{name: "too long", token: encodePageToken("members", "seg_1", strings.Repeat("x", maxPageTokenLen)), list: "members", scope: "seg_1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodePageToken(tt.token, tt.list, tt.scope)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Errorf("decodePageToken = %q, %v; want %q, err %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestToStatus(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantCode   codes.Code
		wantMsg    string
		wantFields []string
	}{
		{"validation", fmt.Errorf("wrapped: %w", &validation.Error{Violations: []validation.Violation{{Field: "a", Description: "x"}, {Field: "b", Description: "y"}}}),
			codes.InvalidArgument, "", []string{"a", "b"}},
		{"not found", fmt.Errorf("get segment: %w", segment.ErrNotFound), codes.NotFound, "not found", nil},
		{"limit", &segment.LimitError{What: "segments per workspace", Max: 1}, codes.ResourceExhausted, "", nil},
		{"canceled", context.Canceled, codes.Canceled, "", nil},
		{"unknown is hidden", errors.New("pq: password authentication failed"), codes.Internal, "internal error", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := status.Convert(toStatus(tt.err))
			if st.Code() != tt.wantCode {
				t.Fatalf("code = %v, want %v", st.Code(), tt.wantCode)
			}
			if tt.wantMsg != "" && st.Message() != tt.wantMsg {
				t.Errorf("message = %q, want %q", st.Message(), tt.wantMsg)
			}
			var fields []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						fields = append(fields, v.GetField())
					}
				}
			}
			if fmt.Sprint(fields) != fmt.Sprint(tt.wantFields) {
				t.Errorf("fields = %v, want %v", fields, tt.wantFields)
			}
		})
	}
}

func TestSegmentProtoRoundTrip(t *testing.T) {
	in := &segmentationv1.Segment{
		DisplayName: "VIP",
		Description: "big spenders",
		Rule: &segmentationv1.Rule{All: []*segmentationv1.Condition{
			{Kind: &segmentationv1.Condition_Trait{Trait: &segmentationv1.TraitCondition{Key: "plan", Equals: "pro"}}},
			{Kind: &segmentationv1.Condition_Event{Event: &segmentationv1.EventCondition{Event: "Viewed", MinCount: 2, WithinDays: 30}}},
			{Kind: &segmentationv1.Condition_Rfm{Rfm: &segmentationv1.RfmCondition{MinRecencyScore: 4, MinFrequencyScore: 3, MinMonetaryScore: 5}}},
		}},
	}
	if out := segmentToProto(segmentFromProto(in)); !proto.Equal(in, out) {
		t.Errorf("round trip = %v, want %v", out, in)
	}
}
