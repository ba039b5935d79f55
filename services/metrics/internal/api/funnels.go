package api

import (
	"context"
	"fmt"
	"reflect"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	"github.com/kizuna/kizuna/services/analytics/funnel"
	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
	"github.com/kizuna/kizuna/services/metrics/internal/store"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/validation"
)

// Funnel limits.
const (
	defaultFunnelWindow = 7 * 24 * time.Hour
	maxFunnelWindow     = 366 * 24 * time.Hour
	maxSurveyPage       = 1000
	defaultSurveyPage   = 100
)

// members returns the live customer ids of a segment, nil without one.
func (s *Server) members(ctx context.Context, ws, segmentID string) (map[string]struct{}, error) {
	if segmentID == "" {
		return nil, nil
	}
	if len(segmentID) > kpi.MaxSegmentIDLen {
		return nil, validation.Invalid("segment_id", "longer than %d bytes", kpi.MaxSegmentIDLen)
	}
	ids, err := s.dash.Segments.Members(ctx, segmentID, kpi.MaxSegmentMembers)
	if err != nil {
		return nil, err
	}
	return s.dash.Store.ResolveMembers(ctx, ws, ids)
}

func inScope(members map[string]struct{}, id string) bool {
	if members == nil {
		return true
	}
	_, ok := members[id]
	return ok
}

// ComputeFunnel counts customers through the steps.
func (s *Server) ComputeFunnel(ctx context.Context, req *metricsv1.ComputeFunnelRequest) (*metricsv1.ComputeFunnelResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	v := &validation.Error{}
	steps := req.GetSteps()
	if len(steps) < 2 || len(steps) > funnel.MaxSteps {
		v.Addf("steps", "between 2 and %d steps are required", funnel.MaxSteps)
	}
	var names []string
	for i, st := range steps {
		if st.GetEvent() == "" || len(st.GetEvent()) > 200 {
			v.Addf(fmt.Sprintf("steps[%d].event", i), "required, at most 200 bytes")
		}
		names = append(names, st.GetEvent())
	}
	window := defaultFunnelWindow
	if w := req.GetWindow(); w != nil {
		if err := w.CheckValid(); err != nil || w.AsDuration() <= 0 || w.AsDuration() > maxFunnelWindow {
			v.Addf("window", "must be positive and at most %s", maxFunnelWindow)
		}
		window = w.AsDuration()
	}
	start := optionalTime(req.GetStartTime(), "start_time", time.Time{}, rejectZero, v)
	end := optionalTime(req.GetEndTime(), "end_time", time.Time{}, rejectZero, v)
	if !start.IsZero() && !end.IsZero() && !end.After(start) {
		v.Add("end_time", "must be after start_time")
	}
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	members, err := s.members(ctx, ws, req.GetSegmentId())
	if err != nil {
		return nil, toStatus(err)
	}
	filters := make([]map[string]any, len(steps))
	for i, st := range steps {
		filters[i] = st.GetFilters().AsMap()
	}
	// Later steps may happen up to a window after the last first step.
	scanEnd := end
	if !end.IsZero() {
		scanEnd = end.Add(window)
	}
	byCustomer := map[string][]funnel.Event{}
	err = s.dash.Store.ScanEvents(ctx, ws, names, start, scanEnd, func(e store.FunnelEvent) {
		if !inScope(members, e.CustomerID) {
			return
		}
		var mask uint32
		for i, st := range steps {
			if st.GetEvent() == e.Name && matches(e.Properties, filters[i]) {
				mask |= 1 << i
			}
		}
		if mask != 0 {
			byCustomer[e.CustomerID] = append(byCustomer[e.CustomerID], funnel.Event{Time: e.Time, Steps: mask})
		}
	})
	if err != nil {
		return nil, seriesStatus(err)
	}
	res, err := funnel.Compute(byCustomer, funnel.Options{Steps: len(steps), Window: window, Start: start, End: end})
	if err != nil {
		return nil, toStatus(validation.Invalid("steps", "%v", err))
	}
	resp := &metricsv1.ComputeFunnelResponse{}
	for i, r := range res {
		resp.Steps = append(resp.Steps, &metricsv1.FunnelStepResult{
			Event: steps[i].GetEvent(), Count: int32(r.Count), ConversionFromPrevious: r.FromPrevious, ConversionFromStart: r.FromStart,
			MedianTimeFromPrevious: durationpb.New(r.MedianFromPrevious),
		})
	}
	return resp, nil
}

// matches says whether props hold every filter value. Numbers compare as
// numbers (JSON has only float64).
func matches(props, filters map[string]any) bool {
	for k, want := range filters {
		got, ok := props[k]
		if !ok || !reflect.DeepEqual(got, want) {
			return false
		}
	}
	return true
}

// ListSurveyAnswers lists answers with their comments.
func (s *Server) ListSurveyAnswers(ctx context.Context, req *metricsv1.ListSurveyAnswersRequest) (*metricsv1.ListSurveyAnswersResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	v := &validation.Error{}
	start := optionalTime(req.GetStartTime(), "start_time", time.Time{}, rejectZero, v)
	end := optionalTime(req.GetEndTime(), "end_time", time.Time{}, rejectZero, v)
	size := int(req.GetPageSize())
	if size < 0 || size > maxSurveyPage {
		v.Addf("page_size", "must be between 0 and %d", maxSurveyPage)
	}
	if size == 0 {
		size = defaultSurveyPage
	}
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	members, err := s.members(ctx, ws, req.GetSegmentId())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &metricsv1.ListSurveyAnswersResponse{}
	err = s.dash.Store.ScanSurveyAnswers(ctx, ws, start, end, func(a kpi.SurveyAnswer) {
		if len(resp.Answers) >= size || !inScope(members, a.CustomerID) ||
			(req.GetSurvey() != "" && a.Survey != req.GetSurvey()) || (req.GetWithComment() && a.Comment == "") {
			return
		}
		resp.Answers = append(resp.Answers, &metricsv1.SurveyAnswer{
			EventId: a.EventID, CustomerId: a.CustomerID, Survey: a.Survey, Kind: a.Kind, Score: a.Score,
			Comment: a.Comment, AnswerTime: timestamppb.New(a.Time),
		})
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return resp, nil
}
