package ledger

import (
	"log/slog"
	"math"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
)

// SurveyEvent is the track event carrying survey answers.
const SurveyEvent = "Survey Answered"

// Limits on what is kept of an event for funnels and surveys.
const (
	maxNameLen       = 200
	maxPropertiesLen = 32 << 10
	maxCommentLen    = 4000
)

// named fills e's name, properties and survey answer from a track, page or
// screen event.
func named(e *Event, pe *ingestionv1.Event, log *slog.Logger) {
	switch pe.GetType() {
	case ingestionv1.EventType_EVENT_TYPE_TRACK, ingestionv1.EventType_EVENT_TYPE_PAGE, ingestionv1.EventType_EVENT_TYPE_SCREEN:
	default:
		return
	}
	if pe.GetName() == "" || len(pe.GetName()) > maxNameLen {
		return
	}
	e.Name = pe.GetName()
	e.Properties = "{}"
	if props := pe.GetProperties(); props != nil {
		b, err := protojson.Marshal(props)
		if err == nil && len(b) <= maxPropertiesLen {
			e.Properties = string(b)
		}
	}
	if pe.GetType() != ingestionv1.EventType_EVENT_TYPE_TRACK || e.Name != SurveyEvent {
		return
	}
	a, ok := surveyAnswer(pe.GetProperties().GetFields())
	if !ok {
		log.Warn("survey answer without a valid score",
			slog.String("workspace_id", e.WorkspaceID), slog.String("event_id", e.EventID))
		return
	}
	e.Survey = a
}

// surveyAnswer reads properties.score, .survey, .comment and .type. The
// kind is properties.type when it is "nps" or "csat", else "csat" for a
// survey whose name contains "csat", else "nps". Scores must be whole
// numbers on the kind's scale.
func surveyAnswer(props map[string]*structpb.Value) (*SurveyAnswer, bool) {
	a := &SurveyAnswer{Survey: props["survey"].GetStringValue(), Comment: props["comment"].GetStringValue()}
	if len(a.Survey) > maxNameLen {
		return nil, false
	}
	if len(a.Comment) > maxCommentLen {
		a.Comment = a.Comment[:maxCommentLen]
	}
	switch t := strings.ToLower(props["type"].GetStringValue()); {
	case t == "nps" || t == "csat":
		a.Kind = t
	case strings.Contains(strings.ToLower(a.Survey), "csat"):
		a.Kind = "csat"
	default:
		a.Kind = "nps"
	}
	switch v := props["score"].GetKind().(type) {
	case *structpb.Value_NumberValue:
		a.Score = v.NumberValue
	case *structpb.Value_StringValue:
		f, err := strconv.ParseFloat(strings.TrimSpace(v.StringValue), 64)
		if err != nil {
			return nil, false
		}
		a.Score = f
	default:
		return nil, false
	}
	lo, hi := 0.0, 10.0
	if a.Kind == "csat" {
		lo, hi = 1, 5
	}
	if a.Score != math.Trunc(a.Score) || a.Score < lo || a.Score > hi {
		return nil, false
	}
	return a, true
}
