package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	"github.com/kizuna/kizuna/services/analytics/kpitree"
	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
	"github.com/kizuna/kizuna/services/metrics/internal/store"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/validation"
)

// Limits on tree text fields.
const (
	maxTreeNameLen = 200
	maxNodeTextLen = 2000
	maxIDLen       = 256
	// consistencyTolerance is the relative gap under which a formula node
	// agrees with its directly measured KPI.
	consistencyTolerance = 1e-3
)

// compileTree validates a tree as the API received it.
func compileTree(t *metricsv1.KpiTree, field string) (*kpitree.Tree, error) {
	v := &validation.Error{}
	if t == nil {
		return nil, validation.Invalid(field, "required")
	}
	if t.GetDisplayName() == "" || len(t.GetDisplayName()) > maxTreeNameLen {
		v.Addf(field+".display_name", "required, at most %d bytes", maxTreeNameLen)
	}
	nodes := make([]kpitree.Node, len(t.GetNodes()))
	for i, n := range t.GetNodes() {
		f := fmt.Sprintf("%s.nodes[%d]", field, i)
		if len(n.GetDisplayName()) > maxNodeTextLen || len(n.GetDescription()) > maxNodeTextLen || len(n.GetTarget().GetOwner()) > maxTreeNameLen {
			v.Addf(f, "display_name and description are at most %d bytes, owner %d", maxNodeTextLen, maxTreeNameLen)
		}
		if len(n.GetSegmentId()) > kpi.MaxSegmentIDLen {
			v.Addf(f+".segment_id", "longer than %d bytes", kpi.MaxSegmentIDLen)
		}
		if tg := n.GetTarget(); tg != nil && (math.IsNaN(tg.GetValue()) || math.IsInf(tg.GetValue(), 0)) {
			v.Add(f+".target.value", "must be a finite number")
		}
		nodes[i] = kpitree.Node{ID: n.GetId(), Kind: strings.ToUpper(n.GetKind()), KPI: n.GetKpi(), Formula: n.GetFormula(), ParentID: n.GetParentId()}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	tree, err := kpitree.Compile(nodes, func(name string) bool { _, ok := kpi.Lookup(name); return ok })
	var ne *kpitree.NodeError
	switch {
	case errors.As(err, &ne):
		return nil, validation.Invalid(fmt.Sprintf("%s.nodes[%d].%s", field, ne.Index, ne.Field), "%s", ne.Error())
	case err != nil:
		return nil, validation.Invalid(field+".nodes", "%v", err)
	}
	return tree, nil
}

func treeToStore(t *metricsv1.KpiTree) (store.Tree, error) {
	for _, n := range t.GetNodes() {
		n.Kind = strings.ToUpper(n.GetKind())
	}
	b, err := protojson.Marshal(&metricsv1.KpiTree{Nodes: t.GetNodes()})
	if err != nil {
		return store.Tree{}, fmt.Errorf("encode nodes: %w", err)
	}
	return store.Tree{DisplayName: t.GetDisplayName(), Nodes: string(b)}, nil
}

func treeFromStore(t store.Tree) (*metricsv1.KpiTree, error) {
	out := &metricsv1.KpiTree{}
	if err := protojson.Unmarshal([]byte(t.Nodes), out); err != nil {
		return nil, fmt.Errorf("decode nodes of tree %s: %w", t.ID, err)
	}
	out.KpiTreeId, out.DisplayName = t.ID, t.DisplayName
	out.CreateTime, out.UpdateTime = timestamp(t.CreateTime), timestamp(t.UpdateTime)
	return out, nil
}

// CreateKpiTree validates and saves a tree.
func (s *Server) CreateKpiTree(ctx context.Context, req *metricsv1.CreateKpiTreeRequest) (*metricsv1.CreateKpiTreeResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := compileTree(req.GetKpiTree(), "kpi_tree"); err != nil {
		return nil, toStatus(err)
	}
	st, err := treeToStore(req.GetKpiTree())
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.dash.Store.CreateTree(ctx, ws, st)
	if err != nil {
		return nil, toStatus(err)
	}
	out, err := treeFromStore(saved)
	if err != nil {
		return nil, toStatus(err)
	}
	return &metricsv1.CreateKpiTreeResponse{KpiTree: out}, nil
}

func (s *Server) getTree(ctx context.Context, ws, id string) (*metricsv1.KpiTree, error) {
	t, err := s.dash.Store.GetTree(ctx, ws, id)
	if err != nil {
		return nil, notFound(err, "kpi_tree_id", "no such KPI tree")
	}
	out, err := treeFromStore(t)
	if err != nil {
		return nil, toStatus(err)
	}
	return out, nil
}

// GetKpiTree returns a tree.
func (s *Server) GetKpiTree(ctx context.Context, req *metricsv1.GetKpiTreeRequest) (*metricsv1.GetKpiTreeResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	t, err := s.getTree(ctx, ws, req.GetKpiTreeId())
	if err != nil {
		return nil, err
	}
	return &metricsv1.GetKpiTreeResponse{KpiTree: t}, nil
}

// ListKpiTrees lists trees, creating the starter tree on a workspace's
// first call.
func (s *Server) ListKpiTrees(ctx context.Context, _ *metricsv1.ListKpiTreesRequest) (*metricsv1.ListKpiTreesResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.dash.Store.EnsureStarterTree(ctx, ws, starterTree); err != nil {
		return nil, toStatus(err)
	}
	trees, err := s.dash.Store.ListTrees(ctx, ws)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &metricsv1.ListKpiTreesResponse{}
	for _, t := range trees {
		out, err := treeFromStore(t)
		if err != nil {
			return nil, toStatus(err)
		}
		resp.KpiTrees = append(resp.KpiTrees, out)
	}
	return resp, nil
}

// StarterNodes is the seeds' tree: sales = customers × spend per customer,
// customers = new + returning, spend per customer = AOV × frequency.
func StarterNodes() []*metricsv1.KpiNode {
	return []*metricsv1.KpiNode{
		{Id: "sales", Kind: kpitree.KGI, DisplayName: "Sales", Kpi: "revenue", Formula: "customers * spend_per_customer"},
		{Id: "customers", Kind: kpitree.KPI, DisplayName: "Purchasing customers", Kpi: "purchasing_customers", Formula: "new_customers + returning_customers", ParentId: "sales"},
		{Id: "spend_per_customer", Kind: kpitree.KPI, DisplayName: "Spend per customer", Kpi: "historical_ltv", Formula: "aov * purchase_frequency", ParentId: "sales"},
		{Id: "new_customers", Kind: kpitree.KPI, DisplayName: "New customers", Kpi: "new_customers", ParentId: "customers"},
		{Id: "returning_customers", Kind: kpitree.KPI, DisplayName: "Returning customers", Kpi: "returning_customers", ParentId: "customers"},
		{Id: "aov", Kind: kpitree.KPI, DisplayName: "Average order value", Kpi: "aov", ParentId: "spend_per_customer"},
		{Id: "purchase_frequency", Kind: kpitree.KPI, DisplayName: "Purchase frequency", Kpi: "purchase_frequency", ParentId: "spend_per_customer"},
		{Id: "win_new", Kind: kpitree.KSF, DisplayName: "Win first purchases", Description: "Acquisition that turns visitors into buyers.", ParentId: "new_customers"},
		{Id: "bring_back", Kind: kpitree.KSF, DisplayName: "Bring buyers back", Description: "Follow-up after the first purchase (F2) and win-back of lapsing customers.", ParentId: "returning_customers"},
		{Id: "bigger_baskets", Kind: kpitree.KSF, DisplayName: "Bigger baskets", Description: "Cross-sell and bundles.", ParentId: "aov"},
	}
}

func starterTree() store.Tree {
	t, err := treeToStore(&metricsv1.KpiTree{DisplayName: "Sales tree", Nodes: StarterNodes()})
	if err != nil {
		// The starter nodes are constants; failing to encode them is a bug.
		panic(err)
	}
	return t
}

// UpdateKpiTree validates and replaces a tree.
func (s *Server) UpdateKpiTree(ctx context.Context, req *metricsv1.UpdateKpiTreeRequest) (*metricsv1.UpdateKpiTreeResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := compileTree(req.GetKpiTree(), "kpi_tree"); err != nil {
		return nil, toStatus(err)
	}
	st, err := treeToStore(req.GetKpiTree())
	if err != nil {
		return nil, toStatus(err)
	}
	st.ID = req.GetKpiTreeId()
	saved, err := s.dash.Store.UpdateTree(ctx, ws, st)
	if err != nil {
		return nil, notFound(err, "kpi_tree_id", "no such KPI tree")
	}
	out, err := treeFromStore(saved)
	if err != nil {
		return nil, toStatus(err)
	}
	return &metricsv1.UpdateKpiTreeResponse{KpiTree: out}, nil
}

// DeleteKpiTree deletes a tree.
func (s *Server) DeleteKpiTree(ctx context.Context, req *metricsv1.DeleteKpiTreeRequest) (*metricsv1.DeleteKpiTreeResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.dash.Store.DeleteTree(ctx, ws, req.GetKpiTreeId()); err != nil {
		return nil, notFound(err, "kpi_tree_id", "no such KPI tree")
	}
	return &metricsv1.DeleteKpiTreeResponse{}, nil
}

// evaluation is a tree's measured values for a period and the previous one.
type evaluation struct {
	tree     *metricsv1.KpiTree
	compiled *kpitree.Tree
	// measured[id] is the node's KPI over the period, previous[id] over
	// the previous period; only nodes with a KPI have them.
	measured, previous map[string]float64
	hasPrevious        bool
	start, end         time.Time
}

// measure computes the tree's KPI nodes over [start, end) and the period
// of the same length before it: one computation per segment used.
func (s *Server) measure(ctx context.Context, ws, id string, startTS, endTS *timestamppb.Timestamp) (*evaluation, error) {
	v := &validation.Error{}
	start := optionalTime(startTS, "start_time", time.Time{}, rejectZero, v)
	end := optionalTime(endTS, "end_time", time.Time{}, rejectZero, v)
	if startTS != nil && endTS != nil && !end.After(start) {
		v.Add("end_time", "must be after start_time")
	}
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	tree, err := s.getTree(ctx, ws, id)
	if err != nil {
		return nil, err
	}
	compiled, err := compileTree(tree, "kpi_tree")
	if err != nil {
		// Trees are validated when saved; a KPI renamed since would land here.
		return nil, toStatus(fmt.Errorf("stored tree %s no longer compiles: %w", id, err))
	}
	e := &evaluation{tree: tree, compiled: compiled, measured: map[string]float64{}, previous: map[string]float64{}, start: start, end: end}
	bySegment := map[string][]*metricsv1.KpiNode{}
	var segments []string
	for _, n := range tree.GetNodes() {
		if n.GetKpi() == "" {
			continue
		}
		if _, ok := bySegment[n.GetSegmentId()]; !ok {
			segments = append(segments, n.GetSegmentId())
		}
		bySegment[n.GetSegmentId()] = append(bySegment[n.GetSegmentId()], n)
	}
	// An open range (all time, or up to or from a time) has no previous
	// period of the same length.
	periods := []kpi.Period{{Start: start, End: end}}
	e.hasPrevious = !start.IsZero() && !end.IsZero()
	if e.hasPrevious {
		length := end.Sub(start)
		periods = []kpi.Period{
			{Start: start, End: end, PrevStart: start.Add(-length)},
			{Start: start.Add(-length), End: start, PrevStart: start.Add(-2 * length)},
		}
	}
	for _, seg := range segments {
		nodes := bySegment[seg]
		names := make([]string, len(nodes))
		for i, n := range nodes {
			names[i] = n.GetKpi()
		}
		res, err := s.calc.Series(ctx, kpi.SeriesRequest{WorkspaceID: ws, KPIs: names, SegmentID: seg, Periods: periods})
		if err != nil {
			return nil, seriesStatus(err)
		}
		for i, n := range nodes {
			e.measured[n.GetId()] = res.Values[i][0]
			if e.hasPrevious {
				e.previous[n.GetId()] = res.Values[i][1]
			}
		}
	}
	return e, nil
}

// values evaluates the formulas over leaves taken from measured, with
// overrides replacing some.
func (e *evaluation) values(measured, overrides map[string]float64) (map[string]float64, map[string]float64, error) {
	leaves := map[string]float64{}
	for _, n := range e.tree.GetNodes() {
		if e.compiled.IsLeaf(n.GetId()) {
			leaves[n.GetId()] = measured[n.GetId()]
		}
	}
	for id, v := range overrides {
		leaves[id] = v
	}
	vals, err := e.compiled.Evaluate(leaves)
	if err != nil {
		return nil, nil, err
	}
	return vals, leaves, nil
}

// response builds the node values; whatIf adds baselines and sensitivities.
func (e *evaluation) response(overrides map[string]float64, whatIf bool) ([]*metricsv1.NodeValue, error) {
	cur, leaves, err := e.values(e.measured, overrides)
	if err != nil {
		return nil, err
	}
	prev, _, err := e.values(e.previous, nil)
	if err != nil {
		return nil, err
	}
	var base, sens map[string]float64
	if whatIf {
		if base, _, err = e.values(e.measured, nil); err != nil {
			return nil, err
		}
		if sens, err = e.compiled.Sensitivity(leaves); err != nil {
			return nil, err
		}
	}
	var out []*metricsv1.NodeValue
	for _, n := range e.tree.GetNodes() {
		id := n.GetId()
		nv := &metricsv1.NodeValue{Id: id, Kind: n.GetKind()}
		out = append(out, nv)
		if n.GetKind() == kpitree.KSF {
			continue
		}
		nv.Value = proto.Float64(cur[id])
		if e.hasPrevious {
			nv.PreviousValue = proto.Float64(prev[id])
		}
		if n.GetFormula() != "" && n.GetKpi() != "" {
			// Agreement is a property of the data, so a what-if judges the
			// formula on the measured leaves, not on the overrides.
			f := cur[id]
			if whatIf {
				f = base[id]
			}
			m := e.measured[id]
			nv.MeasuredValue = proto.Float64(m)
			gap := math.Abs(f - m)
			nv.Consistent = proto.Bool(gap <= consistencyTolerance*math.Max(math.Abs(m), math.Abs(f)) || gap < 1e-9)
		}
		if tg := n.GetTarget(); tg != nil && tg.GetValue() != 0 {
			nv.TargetProgress = proto.Float64(cur[id] / tg.GetValue())
		}
		if whatIf {
			nv.BaselineValue = proto.Float64(base[id])
			if sv, ok := sens[id]; ok {
				nv.Sensitivity = proto.Float64(sv)
			}
			_, nv.Overridden = overrides[id]
		}
	}
	return out, nil
}

// EvaluateKpiTree computes the tree over a period.
func (s *Server) EvaluateKpiTree(ctx context.Context, req *metricsv1.EvaluateKpiTreeRequest) (*metricsv1.EvaluateKpiTreeResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	e, err := s.measure(ctx, ws, req.GetKpiTreeId(), req.GetStartTime(), req.GetEndTime())
	if err != nil {
		return nil, err
	}
	nodes, err := e.response(nil, false)
	if err != nil {
		return nil, toStatus(err)
	}
	return &metricsv1.EvaluateKpiTreeResponse{KpiTreeId: e.tree.GetKpiTreeId(), Nodes: nodes, RootId: e.compiled.Root(),
		StartTime: timestamp(e.start), EndTime: timestamp(e.end)}, nil
}

// WhatIfKpiTree recomputes the tree with leaf overrides.
func (s *Server) WhatIfKpiTree(ctx context.Context, req *metricsv1.WhatIfKpiTreeRequest) (*metricsv1.WhatIfKpiTreeResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	e, err := s.measure(ctx, ws, req.GetKpiTreeId(), req.GetStartTime(), req.GetEndTime())
	if err != nil {
		return nil, err
	}
	v := &validation.Error{}
	for id, val := range req.GetOverrides() {
		switch {
		case !e.compiled.IsLeaf(id):
			v.Addf("overrides", "%q is not a leaf KPI node of the tree (only measured nodes without a formula can be overridden)", id)
		case math.IsNaN(val) || math.IsInf(val, 0):
			v.Addf("overrides", "%q: must be a finite number", id)
		}
	}
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	nodes, err := e.response(req.GetOverrides(), true)
	if err != nil {
		return nil, toStatus(err)
	}
	return &metricsv1.WhatIfKpiTreeResponse{KpiTreeId: e.tree.GetKpiTreeId(), Nodes: nodes, RootId: e.compiled.Root(),
		StartTime: timestamp(e.start), EndTime: timestamp(e.end)}, nil
}

// Initiative stages, the PDCA cycle.
var stages = []string{"PLAN", "DO", "CHECK", "ACT"}

// CreateInitiative records an initiative on a node of an existing tree.
func (s *Server) CreateInitiative(ctx context.Context, req *metricsv1.CreateInitiativeRequest) (*metricsv1.CreateInitiativeResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	tree, err := s.getTree(ctx, ws, req.GetKpiTreeId())
	if err != nil {
		return nil, err
	}
	in := req.GetInitiative()
	v := &validation.Error{}
	stage := strings.ToUpper(in.GetStage())
	if stage == "" {
		stage = "PLAN"
	}
	if !slices.Contains(stages, stage) {
		v.Add("initiative.stage", "must be PLAN, DO, CHECK or ACT")
	}
	if in.GetTitle() == "" || len(in.GetTitle()) > maxTreeNameLen {
		v.Addf("initiative.title", "required, at most %d bytes", maxTreeNameLen)
	}
	if len(in.GetDescription()) > maxNodeTextLen || len(in.GetOwner()) > maxTreeNameLen || len(in.GetCampaignId()) > maxIDLen {
		v.Add("initiative", "description, owner or campaign_id too long")
	}
	if !slices.ContainsFunc(tree.GetNodes(), func(n *metricsv1.KpiNode) bool { return n.GetId() == in.GetNodeId() }) {
		v.Addf("initiative.node_id", "no node %q in the tree", in.GetNodeId())
	}
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.dash.Store.CreateInitiative(ctx, ws, store.Initiative{
		TreeID: tree.GetKpiTreeId(), NodeID: in.GetNodeId(), Title: in.GetTitle(), Description: in.GetDescription(),
		Stage: stage, Owner: in.GetOwner(), CampaignID: in.GetCampaignId(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &metricsv1.CreateInitiativeResponse{Initiative: initiativeProto(saved)}, nil
}

func initiativeProto(in store.Initiative) *metricsv1.Initiative {
	return &metricsv1.Initiative{InitiativeId: in.ID, KpiTreeId: in.TreeID, NodeId: in.NodeID, Title: in.Title, Description: in.Description,
		Stage: in.Stage, Owner: in.Owner, CampaignId: in.CampaignID, CreateTime: timestamp(in.CreateTime)}
}

// ListInitiatives lists a tree's initiatives.
func (s *Server) ListInitiatives(ctx context.Context, req *metricsv1.ListInitiativesRequest) (*metricsv1.ListInitiativesResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.getTree(ctx, ws, req.GetKpiTreeId()); err != nil {
		return nil, err
	}
	ins, err := s.dash.Store.ListInitiatives(ctx, ws, req.GetKpiTreeId())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &metricsv1.ListInitiativesResponse{}
	for _, in := range ins {
		resp.Initiatives = append(resp.Initiatives, initiativeProto(in))
	}
	return resp, nil
}
