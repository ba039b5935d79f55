package api

import (
	"context"
	"errors"
	"math"
	"regexp"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
	"github.com/kizuna/kizuna/services/metrics/internal/store"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpcstatus"
	"github.com/kizuna/kizuna/services/platform/validation"
)

// Limits on cost and settings fields.
const (
	maxLabelLen      = 200
	maxExchangeRates = 200
	maxF2WindowDays  = 3650
)

var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

// CreateCost validates and stores a cost. Its currency must be the
// workspace's or have an exchange rate, so every cost can be added up.
func (s *Server) CreateCost(ctx context.Context, req *metricsv1.CreateCostRequest) (*metricsv1.CreateCostResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	settings, err := s.dash.Store.Settings(ctx, ws)
	if err != nil {
		return nil, toStatus(err)
	}
	c := req.GetCost()
	v := &validation.Error{}
	if c == nil {
		v.Add("cost", "required")
		return nil, toStatus(v.Err())
	}
	cost := kpi.Cost{
		Amount: c.GetAmount(), Currency: strings.ToUpper(c.GetCurrency()), Channel: c.GetChannel(),
		CampaignID: c.GetCampaignId(), JourneyID: c.GetJourneyId(),
	}
	if !(cost.Amount > 0) || math.IsInf(cost.Amount, 0) {
		v.Add("cost.amount", "must be a positive number")
	}
	if cost.Currency == "" {
		cost.Currency = settings.Currency
	}
	switch {
	case cost.Currency != "" && !currencyPattern.MatchString(cost.Currency):
		v.Add("cost.currency", "must be an ISO 4217 code such as JPY")
	case cost.Currency != "" && settings.Currency != "":
		if _, ok := settings.Convert(1, cost.Currency); !ok {
			v.Addf("cost.currency", "no exchange rate from %s to the workspace currency %s; add one with PUT /v1/metricsSettings", cost.Currency, settings.Currency)
		}
	}
	if cost.Channel == "" || len(cost.Channel) > maxLabelLen {
		v.Addf("cost.channel", "required, at most %d bytes", maxLabelLen)
	}
	if len(cost.CampaignID) > maxLabelLen || len(cost.JourneyID) > maxLabelLen {
		v.Addf("cost.campaign_id", "campaign and journey ids are at most %d bytes", maxLabelLen)
	}
	cost.Start = optionalTime(c.GetStartTime(), "cost.start_time", time.Time{}, rejectZero, v)
	cost.End = optionalTime(c.GetEndTime(), "cost.end_time", time.Time{}, rejectZero, v)
	if c.GetStartTime() == nil || c.GetEndTime() == nil {
		v.Add("cost.start_time", "start_time and end_time are required")
	} else if !cost.End.After(cost.Start) {
		v.Add("cost.end_time", "must be after start_time")
	}
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.dash.Store.CreateCost(ctx, ws, cost)
	if err != nil {
		return nil, seriesStatus(err)
	}
	return &metricsv1.CreateCostResponse{Cost: costProto(saved)}, nil
}

func costProto(c kpi.Cost) *metricsv1.Cost {
	return &metricsv1.Cost{
		CostId: c.ID, Amount: c.Amount, Currency: c.Currency, Channel: c.Channel, CampaignId: c.CampaignID, JourneyId: c.JourneyID,
		StartTime: timestamp(c.Start), EndTime: timestamp(c.End), CreateTime: timestamp(c.CreateTime),
	}
}

// ListCosts lists costs, optionally of one channel.
func (s *Server) ListCosts(ctx context.Context, req *metricsv1.ListCostsRequest) (*metricsv1.ListCostsResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	costs, err := s.dash.Store.Costs(ctx, ws)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &metricsv1.ListCostsResponse{}
	for _, c := range costs {
		if req.GetChannel() == "" || c.Channel == req.GetChannel() {
			resp.Costs = append(resp.Costs, costProto(c))
		}
	}
	return resp, nil
}

// DeleteCost deletes a cost.
func (s *Server) DeleteCost(ctx context.Context, req *metricsv1.DeleteCostRequest) (*metricsv1.DeleteCostResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.dash.Store.DeleteCost(ctx, ws, req.GetCostId()); err != nil {
		return nil, notFound(err, "cost_id", "no such cost")
	}
	return &metricsv1.DeleteCostResponse{}, nil
}

func notFound(err error, field, desc string) error {
	if errors.Is(err, store.ErrNotFound) {
		return grpcstatus.New(codes.NotFound, desc, err, validation.Violation{Field: field, Description: desc})
	}
	return toStatus(err)
}

// GetMetricsSettings returns the settings.
func (s *Server) GetMetricsSettings(ctx context.Context, _ *metricsv1.GetMetricsSettingsRequest) (*metricsv1.GetMetricsSettingsResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	st, err := s.dash.Store.Settings(ctx, ws)
	if err != nil {
		return nil, toStatus(err)
	}
	return &metricsv1.GetMetricsSettingsResponse{Settings: settingsProto(st)}, nil
}

func settingsProto(st kpi.Settings) *metricsv1.MetricsSettings {
	f2 := st.F2WindowDays
	if f2 == 0 {
		f2 = kpi.DefaultF2WindowDays
	}
	return &metricsv1.MetricsSettings{Currency: st.Currency, ExchangeRates: st.ExchangeRates, GrossMargin: st.GrossMargin, F2WindowDays: int32(f2)}
}

// UpdateMetricsSettings validates and replaces the settings.
func (s *Server) UpdateMetricsSettings(ctx context.Context, req *metricsv1.UpdateMetricsSettingsRequest) (*metricsv1.UpdateMetricsSettingsResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	in := req.GetSettings()
	v := &validation.Error{}
	st := kpi.Settings{Currency: strings.ToUpper(in.GetCurrency()), GrossMargin: in.GetGrossMargin(), F2WindowDays: int(in.GetF2WindowDays()), ExchangeRates: map[string]float64{}}
	if st.Currency != "" && !currencyPattern.MatchString(st.Currency) {
		v.Add("settings.currency", "must be an ISO 4217 code such as JPY")
	}
	if !(st.GrossMargin >= 0 && st.GrossMargin <= 1) {
		v.Add("settings.gross_margin", "must be between 0 and 1")
	}
	if st.F2WindowDays < 0 || st.F2WindowDays > maxF2WindowDays {
		v.Addf("settings.f2_window_days", "must be between 0 (default) and %d", maxF2WindowDays)
	}
	if len(in.GetExchangeRates()) > maxExchangeRates {
		v.Addf("settings.exchange_rates", "at most %d rates", maxExchangeRates)
	}
	if len(in.GetExchangeRates()) > 0 && st.Currency == "" {
		v.Add("settings.exchange_rates", "rates need a workspace currency to convert to")
	}
	for cur, rate := range in.GetExchangeRates() {
		if !currencyPattern.MatchString(strings.ToUpper(cur)) || !(rate > 0) || math.IsInf(rate, 0) {
			v.Addf("settings.exchange_rates", "%q: want an ISO 4217 code and a positive rate", cur)
			continue
		}
		st.ExchangeRates[strings.ToUpper(cur)] = rate
	}
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	if err := s.dash.Store.PutSettings(ctx, ws, st); err != nil {
		return nil, toStatus(err)
	}
	return &metricsv1.UpdateMetricsSettingsResponse{Settings: settingsProto(st)}, nil
}
