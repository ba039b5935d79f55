package ledger_test

import (
	"log/slog"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/metrics/internal/ledger"
)

func TestSurveyAnswers(t *testing.T) {
	tests := []struct {
		name  string
		typ   ingestionv1.EventType
		event string
		props map[string]any
		want  *ledger.SurveyAnswer
	}{
		{name: "nps", event: "Survey Answered", props: map[string]any{"survey": "nps-q1", "score": 9, "comment": "良い"},
			want: &ledger.SurveyAnswer{Survey: "nps-q1", Kind: "nps", Score: 9, Comment: "良い"}},
		{name: "score as text", event: "Survey Answered", props: map[string]any{"survey": "nps-q1", "score": " 0 "},
			want: &ledger.SurveyAnswer{Survey: "nps-q1", Kind: "nps", Score: 0}},
		{name: "csat by name", event: "Survey Answered", props: map[string]any{"survey": "CSAT support", "score": 4},
			want: &ledger.SurveyAnswer{Survey: "CSAT support", Kind: "csat", Score: 4}},
		{name: "csat by type", event: "Survey Answered", props: map[string]any{"survey": "support", "type": "CSAT", "score": 1},
			want: &ledger.SurveyAnswer{Survey: "support", Kind: "csat", Score: 1}},
		{name: "nps out of range", event: "Survey Answered", props: map[string]any{"score": 11}},
		{name: "csat out of range", event: "Survey Answered", props: map[string]any{"type": "csat", "score": 0}},
		{name: "fraction", event: "Survey Answered", props: map[string]any{"score": 7.5}},
		{name: "no score", event: "Survey Answered", props: map[string]any{"survey": "nps"}},
		{name: "not a number", event: "Survey Answered", props: map[string]any{"score": "great"}},
		{name: "other event", event: "Order Completed", props: map[string]any{"score": 9}},
		{name: "page named like it", typ: ingestionv1.EventType_EVENT_TYPE_PAGE, event: "Survey Answered", props: map[string]any{"score": 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			props, err := structpb.NewStruct(tt.props)
			if err != nil {
				t.Fatal(err)
			}
			typ := tt.typ
			if typ == ingestionv1.EventType_EVENT_TYPE_UNSPECIFIED {
				typ = ingestionv1.EventType_EVENT_TYPE_TRACK
			}
			e, err := ledger.EventFromProto(&ingestionv1.Event{
				EventId: "e", WorkspaceId: "w", CustomerId: "c", Type: typ, Name: tt.event,
				Timestamp: timestamppb.New(time.Unix(0, 0)), Properties: props,
			}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if e.Name != tt.event || e.Properties == "{}" {
				t.Errorf("named event %q with properties %s, want %q with its properties", e.Name, e.Properties, tt.event)
			}
			switch {
			case tt.want == nil && e.Survey != nil:
				t.Errorf("survey = %+v, want none", e.Survey)
			case tt.want != nil && (e.Survey == nil || *e.Survey != *tt.want):
				t.Errorf("survey = %+v, want %+v", e.Survey, tt.want)
			}
		})
	}
	// Identify events are not kept for funnels.
	e, err := ledger.EventFromProto(&ingestionv1.Event{EventId: "e", WorkspaceId: "w", CustomerId: "c",
		Type: ingestionv1.EventType_EVENT_TYPE_IDENTIFY, Timestamp: timestamppb.New(time.Unix(0, 0))}, slog.New(slog.DiscardHandler))
	if err != nil || e.Name != "" {
		t.Errorf("identify event named %q (%v), want unnamed", e.Name, err)
	}
}
