package metrics

import (
	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	"github.com/kizuna/kizuna/services/platform/auth"
)

var (
	metricsRead  = []string{auth.ScopeMetricsRead}
	metricsWrite = []string{auth.ScopeMetricsWrite}
)

// Scopes names the key scopes that allow each metrics RPC (any one of
// them); the gRPC server denies every RPC it does not list. Computing a
// figure is a read; what stores something (a fitted model, a cost, a
// setting, a KPI tree, an initiative) is a write.
var Scopes = auth.ScopeTable{
	metricsv1.MetricsService_ComputeMetric_FullMethodName:         metricsRead,
	metricsv1.MetricsService_FitClv_FullMethodName:                metricsWrite,
	metricsv1.MetricsService_PredictClv_FullMethodName:            metricsRead,
	metricsv1.MetricsService_PlanSampleSize_FullMethodName:        metricsRead,
	metricsv1.MetricsService_GetJourneyResults_FullMethodName:     metricsRead,
	metricsv1.MetricsService_GetCampaignResults_FullMethodName:    metricsRead,
	metricsv1.MetricsService_AnalyzeConversion_FullMethodName:     metricsRead,
	metricsv1.MetricsService_ComputeNps_FullMethodName:            metricsRead,
	metricsv1.MetricsService_GetCohortRetention_FullMethodName:    metricsRead,
	metricsv1.MetricsService_ListKpis_FullMethodName:              metricsRead,
	metricsv1.MetricsService_QueryMetrics_FullMethodName:          metricsRead,
	metricsv1.MetricsService_CreateCost_FullMethodName:            metricsWrite,
	metricsv1.MetricsService_ListCosts_FullMethodName:             metricsRead,
	metricsv1.MetricsService_DeleteCost_FullMethodName:            metricsWrite,
	metricsv1.MetricsService_GetMetricsSettings_FullMethodName:    metricsRead,
	metricsv1.MetricsService_UpdateMetricsSettings_FullMethodName: metricsWrite,
	metricsv1.MetricsService_ListSurveyAnswers_FullMethodName:     metricsRead,
	metricsv1.MetricsService_ComputeFunnel_FullMethodName:         metricsRead,
	metricsv1.MetricsService_CreateKpiTree_FullMethodName:         metricsWrite,
	metricsv1.MetricsService_GetKpiTree_FullMethodName:            metricsRead,
	metricsv1.MetricsService_ListKpiTrees_FullMethodName:          metricsRead,
	metricsv1.MetricsService_UpdateKpiTree_FullMethodName:         metricsWrite,
	metricsv1.MetricsService_DeleteKpiTree_FullMethodName:         metricsWrite,
	metricsv1.MetricsService_EvaluateKpiTree_FullMethodName:       metricsRead,
	metricsv1.MetricsService_WhatIfKpiTree_FullMethodName:         metricsRead,
	metricsv1.MetricsService_CreateInitiative_FullMethodName:      metricsWrite,
	metricsv1.MetricsService_ListInitiatives_FullMethodName:       metricsRead,

	metricsv1.InitiativeService_CreateInitiative_FullMethodName:     metricsWrite,
	metricsv1.InitiativeService_GetInitiative_FullMethodName:        metricsRead,
	metricsv1.InitiativeService_ListInitiatives_FullMethodName:      metricsRead,
	metricsv1.InitiativeService_AdvanceInitiative_FullMethodName:    metricsWrite,
	metricsv1.InitiativeService_GetInitiativeSummary_FullMethodName: metricsRead,
}
