package api

import (
	"context"
	"errors"
	"slices"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
	"github.com/kizuna/kizuna/services/ingestion/internal/rights"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpcstatus"
)

type regulationServer struct {
	ingestionv1.UnimplementedRegulationServiceServer
	s *Server
}

func (r *regulationServer) CreateRegulation(ctx context.Context, req *ingestionv1.CreateRegulationRequest) (*ingestionv1.CreateRegulationResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	var typ string
	switch req.GetType() {
	case ingestionv1.RegulationType_DELETE:
		typ = rights.TypeDelete
	case ingestionv1.RegulationType_SUPPRESS:
		typ = rights.TypeSuppress
	case ingestionv1.RegulationType_UNSUPPRESS:
		typ = rights.TypeUnsuppress
	default:
		return nil, grpcstatus.Invalid("type", "must be DELETE, SUPPRESS or UNSUPPRESS")
	}
	var targets []rights.Target
	if v := strings.TrimSpace(req.GetCustomerId()); v != "" {
		targets = append(targets, rights.Target{Kind: rights.TargetCustomerID, Value: v})
	}
	keys, err := r.s.identityKeys(ctx, ws, identityFields{UserID: req.GetUserId(), Email: req.GetEmail(), Phone: req.GetPhone()})
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		targets = append(targets, rights.Target{Kind: k.Kind, Value: k.Value})
	}
	if len(targets) != 1 {
		return nil, grpcstatus.Invalid("customer_id", "exactly one of customer_id, user_id, email or phone is required")
	}
	reg, err := r.s.rights.Create(ctx, ws, typ, targets[0], ingest.NewID)
	if errors.Is(err, rights.ErrUnknownPerson) {
		return nil, grpcstatus.New(codes.NotFound, err.Error(), err)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &ingestionv1.CreateRegulationResponse{Regulation: regulationProto(reg)}, nil
}

func (r *regulationServer) GetRegulation(ctx context.Context, req *ingestionv1.GetRegulationRequest) (*ingestionv1.GetRegulationResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := requireID("regulation_id", req.GetRegulationId()); err != nil {
		return nil, err
	}
	reg, err := r.s.store.Regulation(ctx, ws, req.GetRegulationId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ingestionv1.GetRegulationResponse{Regulation: regulationProto(reg)}, nil
}

func (r *regulationServer) ListRegulations(ctx context.Context, req *ingestionv1.ListRegulationsRequest) (*ingestionv1.ListRegulationsResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	regs, next, err := r.s.store.Regulations(ctx, ws, size, req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &ingestionv1.ListRegulationsResponse{NextPageToken: next}
	for _, reg := range regs {
		resp.Regulations = append(resp.Regulations, regulationProto(reg))
	}
	return resp, nil
}

// exportPage is how many events one read of an export takes.
const exportPage = 1000

// maxExportEvents bounds one export: a person with more events than this
// is refused rather than half-exported.
const maxExportEvents = 1_000_000

func (r *regulationServer) ExportCustomer(ctx context.Context, req *ingestionv1.ExportCustomerRequest) (*ingestionv1.ExportCustomerResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := requireID("customer_id", req.GetCustomerId()); err != nil {
		return nil, err
	}
	switch req.GetFormat() {
	case "", "json", "ndjson":
	default:
		return nil, grpcstatus.Invalid("format", "must be json or ndjson")
	}
	cust, err := r.s.store.Customer(ctx, ws, req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	pb, err := customerProto(cust)
	if err != nil {
		return nil, toStatus(err)
	}
	suppressed, err := r.s.rights.Suppressed(ctx, ws, []*customer.Customer{cust})
	if err != nil {
		return nil, toStatus(err)
	}
	pb.Suppressed = suppressed[cust.ID]
	resp := &ingestionv1.ExportCustomerResponse{Customer: pb, Suppressed: pb.Suppressed, ExportTime: timestamppb.New(r.s.now())}
	person, keys, err := r.s.rights.Person(ctx, ws, cust.ID)
	if err != nil {
		return nil, toStatus(err)
	}
	resp.MergedCustomerIds = slices.DeleteFunc(person, func(id string) bool { return id == cust.ID })
	for _, k := range keys {
		resp.Identities = append(resp.Identities, &ingestionv1.Identity{Kind: k.Kind, Value: k.Value})
	}
	for token := ""; ; {
		page, err := r.s.store.CustomerEvents(ctx, ws, cust.ID, exportPage, token)
		if err != nil {
			return nil, toStatus(err)
		}
		for _, e := range page.Events {
			ev, err := ingest.EventProto(e)
			if err != nil {
				return nil, toStatus(err)
			}
			resp.Events = append(resp.Events, ev)
			if ev.GetOrder() != nil {
				resp.Orders = append(resp.Orders, ev.GetOrder())
			}
		}
		if len(resp.Events) > maxExportEvents {
			return nil, grpcstatus.New(codes.ResourceExhausted, "the customer has more than 1,000,000 events; export them with ListCustomerEvents", nil)
		}
		if token = page.NextToken; token == "" {
			break
		}
	}
	slices.Reverse(resp.Events) // oldest first
	slices.Reverse(resp.Orders)
	regs, err := r.s.store.CustomerRegulations(ctx, ws, cust.ID)
	if err != nil {
		return nil, toStatus(err)
	}
	for _, reg := range regs {
		resp.Regulations = append(resp.Regulations, regulationProto(reg))
	}
	return resp, nil
}

func regulationProto(r rights.Regulation) *ingestionv1.Regulation {
	pb := &ingestionv1.Regulation{
		RegulationId: r.ID, Type: rights.TypeProto(r.Type), TargetKind: r.TargetKind, Target: r.Target,
		CustomerIds: r.CustomerIDs, State: ingestionv1.RegulationState_DONE,
		CreateTime: timestamppb.New(r.CreateTime), DoneTime: timeOrNil(r.DoneTime),
	}
	for _, s := range r.Services {
		st := ingestionv1.RegulationState_PENDING
		if s.Done {
			st = ingestionv1.RegulationState_DONE
		} else {
			pb.State = ingestionv1.RegulationState_PENDING
		}
		pb.Services = append(pb.Services, &ingestionv1.RegulationServiceState{
			Service: s.Service, State: st, AffectedRows: s.AffectedRows, UpdateTime: timestamppb.New(s.UpdateTime),
		})
	}
	return pb
}
