// Package api is ingestion's gRPC boundary: it converts between the
// contracts and the domain, and maps domain errors to gRPC status once.
package api

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/ingestion/internal/conflict"
	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/dedupe"
	"github.com/kizuna/kizuna/services/ingestion/internal/identity"
	"github.com/kizuna/kizuna/services/ingestion/internal/imports"
	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
	"github.com/kizuna/kizuna/services/ingestion/internal/normalize"
	"github.com/kizuna/kizuna/services/ingestion/internal/profile"
	"github.com/kizuna/kizuna/services/ingestion/internal/rights"
	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
	"github.com/kizuna/kizuna/services/ingestion/internal/workspace"
	"github.com/kizuna/kizuna/services/platform/auth"

	"github.com/kizuna/kizuna/services/platform/grpcstatus"
)

// PublicMethods need no API key: workspace creation checks the admin key
// itself, and key verification (how the other services authenticate)
// checks that its caller is a service.
var PublicMethods = []string{
	ingestionv1.WorkspaceService_CreateWorkspace_FullMethodName,
	ingestionv1.WorkspaceService_VerifyAPIKey_FullMethodName,
}

// Server implements ingestion's gRPC services.
type Server struct {
	ingester *ingest.Ingester
	store    Store
	dedupe   *dedupe.Service
	now      func() time.Time
	adminKey string
	counters *counters
	rights   *rights.Rights
	// imports runs import jobs; nil until StartImports.
	imports *imports.Runner
	// tokens are the deployment's service tokens, nil without a service
	// secret; VerifyAPIKey checks its caller with them.
	tokens *auth.ServiceTokens
}

// SetServiceTokens gives the server the deployment's service tokens (see
// VerifyAPIKey); without them only a key may verify itself.
func (s *Server) SetServiceTokens(t *auth.ServiceTokens) { s.tokens = t }

// NewServer returns the handlers: writes go through in, dd and rg, reads
// to s. An empty adminKey disables workspace creation over the API.
func NewServer(in *ingest.Ingester, s Store, dd *dedupe.Service, rg *rights.Rights, now func() time.Time, adminKey string) *Server {
	// Suppressed identities are dropped in the transaction that stores
	// the rest (rights.Screen).
	in.SetScreen(rights.Screen)
	return &Server{ingester: in, store: s, dedupe: dd, rights: rg, now: now, adminKey: adminKey, counters: newCounters()}
}

// Register registers every ingestion service on srv.
func (s *Server) Register(srv grpc.ServiceRegistrar) {
	ingestionv1.RegisterTrackingServiceServer(srv, &trackingServer{s: s})
	ingestionv1.RegisterCustomerServiceServer(srv, &customerServer{s: s})
	ingestionv1.RegisterWorkspaceServiceServer(srv, &workspaceServer{s: s})
	ingestionv1.RegisterDeduplicationServiceServer(srv, &dedupeServer{s: s})
	ingestionv1.RegisterRegulationServiceServer(srv, &regulationServer{s: s})
	ingestionv1.RegisterImportServiceServer(srv, &importServer{s: s})
}

type trackingServer struct {
	ingestionv1.UnimplementedTrackingServiceServer
	s *Server
}

func (t *trackingServer) ingest(ctx context.Context, msgs []tracking.Message) (ingest.Result, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return ingest.Result{}, err
	}
	return t.s.ingest(ctx, ws, msgs)
}

// ingest stores validated messages of workspace ws as every tracking call
// and every import is stored: those carrying a suppressed identity are
// dropped (the ingester's screen, rights.Screen), the rest stored.
func (s *Server) ingest(ctx context.Context, ws string, msgs []tracking.Message) (ingest.Result, error) {
	res, err := s.ingester.Ingest(ctx, ws, msgs)
	if err != nil {
		err = toStatus(err)
		s.counters.rejected(ctx, err, len(msgs))
		return ingest.Result{}, err
	}
	if res.Suppressed > 0 {
		s.counters.addEvents(ctx, outcomeSuppressed, res.Suppressed)
	}
	s.counters.addEvents(ctx, outcomeAccepted, res.Accepted)
	s.counters.addEvents(ctx, outcomeDuplicate, res.Duplicates)
	s.counters.addMerges(ctx, "resolution", res.Merged)
	return res, nil
}

// single stores one parsed message and returns its customer id.
func (t *trackingServer) single(ctx context.Context, m tracking.Message, err error) (string, error) {
	if err != nil {
		err = toStatus(err)
		t.s.counters.rejected(ctx, err, 1)
		return "", err
	}
	res, err := t.ingest(ctx, []tracking.Message{m})
	if err != nil {
		return "", err
	}
	return res.CustomerIDs[0], nil
}

func (t *trackingServer) Batch(ctx context.Context, req *ingestionv1.BatchRequest) (*ingestionv1.BatchResponse, error) {
	msgs, err := tracking.ParseBatch(req, t.s.now())
	if err != nil {
		err = toStatus(err)
		t.s.counters.rejected(ctx, err, len(req.GetBatch()))
		return nil, err
	}
	res, err := t.ingest(ctx, msgs)
	if err != nil {
		return nil, err
	}
	return &ingestionv1.BatchResponse{Success: true, Accepted: int32(res.Accepted), Duplicates: int32(res.Duplicates)}, nil
}

func (t *trackingServer) Identify(ctx context.Context, req *ingestionv1.IdentifyRequest) (*ingestionv1.IdentifyResponse, error) {
	m, err := tracking.ParseIdentify(req, t.s.now())
	id, err := t.single(ctx, m, err)
	if err != nil {
		return nil, err
	}
	return &ingestionv1.IdentifyResponse{Success: true, CustomerId: id}, nil
}

func (t *trackingServer) Track(ctx context.Context, req *ingestionv1.TrackRequest) (*ingestionv1.TrackResponse, error) {
	m, err := tracking.ParseTrack(req, t.s.now())
	id, err := t.single(ctx, m, err)
	if err != nil {
		return nil, err
	}
	return &ingestionv1.TrackResponse{Success: true, CustomerId: id}, nil
}

func (t *trackingServer) Page(ctx context.Context, req *ingestionv1.PageRequest) (*ingestionv1.PageResponse, error) {
	m, err := tracking.ParsePage(req, t.s.now())
	id, err := t.single(ctx, m, err)
	if err != nil {
		return nil, err
	}
	return &ingestionv1.PageResponse{Success: true, CustomerId: id}, nil
}

func (t *trackingServer) Screen(ctx context.Context, req *ingestionv1.ScreenRequest) (*ingestionv1.ScreenResponse, error) {
	m, err := tracking.ParseScreen(req, t.s.now())
	id, err := t.single(ctx, m, err)
	if err != nil {
		return nil, err
	}
	return &ingestionv1.ScreenResponse{Success: true, CustomerId: id}, nil
}

func (t *trackingServer) Group(ctx context.Context, req *ingestionv1.GroupRequest) (*ingestionv1.GroupResponse, error) {
	m, err := tracking.ParseGroup(req, t.s.now())
	id, err := t.single(ctx, m, err)
	if err != nil {
		return nil, err
	}
	return &ingestionv1.GroupResponse{Success: true, CustomerId: id}, nil
}

func (t *trackingServer) Alias(ctx context.Context, req *ingestionv1.AliasRequest) (*ingestionv1.AliasResponse, error) {
	m, err := tracking.ParseAlias(req, t.s.now())
	id, err := t.single(ctx, m, err)
	if err != nil {
		return nil, err
	}
	return &ingestionv1.AliasResponse{Success: true, CustomerId: id}, nil
}

type customerServer struct {
	ingestionv1.UnimplementedCustomerServiceServer
	s *Server
}

// maxBatchGet bounds BatchGetCustomers.
const maxBatchGet = 1000

func (c *customerServer) GetCustomer(ctx context.Context, req *ingestionv1.GetCustomerRequest) (*ingestionv1.GetCustomerResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetCustomerId() == "" {
		return nil, grpcstatus.Invalid("customer_id", "is required")
	}
	cust, err := c.s.store.Customer(ctx, ws, req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	pb, err := customerProto(cust)
	if err != nil {
		return nil, toStatus(err)
	}
	if err := c.s.markSuppressed(ctx, ws, []*customer.Customer{cust}, []*ingestionv1.Customer{pb}); err != nil {
		return nil, toStatus(err)
	}
	return &ingestionv1.GetCustomerResponse{Customer: pb}, nil
}

func (c *customerServer) LookupCustomer(ctx context.Context, req *ingestionv1.LookupCustomerRequest) (*ingestionv1.LookupCustomerResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	keys, err := c.s.identityKeys(ctx, ws, identityFields{
		UserID: req.GetUserId(), AnonymousID: req.GetAnonymousId(), Email: req.GetEmail(), Phone: req.GetPhone(), LineUserID: req.GetLineUserId(),
	})
	if err != nil {
		return nil, err
	}
	if len(keys) != 1 {
		return nil, grpcstatus.Invalid("user_id", "exactly one of user_id, anonymous_id, email, phone or line_user_id is required")
	}
	cust, err := c.s.store.Lookup(ctx, ws, keys[0])
	if err != nil {
		return nil, toStatus(err)
	}
	pb, err := customerProto(cust)
	if err != nil {
		return nil, toStatus(err)
	}
	if err := c.s.markSuppressed(ctx, ws, []*customer.Customer{cust}, []*ingestionv1.Customer{pb}); err != nil {
		return nil, toStatus(err)
	}
	return &ingestionv1.LookupCustomerResponse{Customer: pb}, nil
}

// Limits of SearchCustomers.
const (
	maxSearchName     = 100
	defaultSearchPage = 20
	maxSearchPage     = 100
)

func (c *customerServer) SearchCustomers(ctx context.Context, req *ingestionv1.SearchCustomersRequest) (*ingestionv1.SearchCustomersResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	q := strings.TrimSpace(req.GetName())
	if q == "" {
		return nil, grpcstatus.Invalid("name", "is required")
	}
	if n := utf8.RuneCountInString(q); n > maxSearchName {
		return nil, grpcstatus.Invalid("name", fmt.Sprintf("is %d characters, over the limit of %d", n, maxSearchName))
	}
	size := int(req.GetPageSize())
	switch {
	case size < 0 || size > maxSearchPage:
		return nil, grpcstatus.Invalid("page_size", fmt.Sprintf("must be 0 to %d", maxSearchPage))
	case size == 0:
		size = defaultSearchPage
	}
	search := customer.NameSearch{NameKey: normalize.NormalizeName(q).Key}
	// A query written in kana also looks at readings (フリガナ).
	if k := normalize.NormalizeKana(q); len(k.Issues) == 0 {
		search.KanaKey = k.Key
	}
	found, next, err := c.s.store.SearchByName(ctx, ws, search, size, req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	pbs, err := c.s.customerProtos(ctx, ws, found)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ingestionv1.SearchCustomersResponse{Customers: pbs, NextPageToken: next}, nil
}

// customerProtos converts profiles as read for an answer, marking the
// suppressed ones.
func (s *Server) customerProtos(ctx context.Context, ws string, found []*customer.Customer) ([]*ingestionv1.Customer, error) {
	out := make([]*ingestionv1.Customer, 0, len(found))
	for _, cust := range found {
		pb, err := customerProto(cust)
		if err != nil {
			return nil, err
		}
		out = append(out, pb)
	}
	if err := s.markSuppressed(ctx, ws, found, out); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *customerServer) BatchGetCustomers(ctx context.Context, req *ingestionv1.BatchGetCustomersRequest) (*ingestionv1.BatchGetCustomersResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if n := len(req.GetCustomerIds()); n > maxBatchGet {
		return nil, grpcstatus.Invalid("customer_ids", fmt.Sprintf("holds %d ids, over the limit of %d", n, maxBatchGet))
	}
	found, err := c.s.store.Customers(ctx, ws, req.GetCustomerIds())
	if err != nil {
		return nil, toStatus(err)
	}
	pbs, err := c.s.customerProtos(ctx, ws, found)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ingestionv1.BatchGetCustomersResponse{Customers: pbs}, nil
}

func (c *customerServer) ListCustomerEvents(ctx context.Context, req *ingestionv1.ListCustomerEventsRequest) (*ingestionv1.ListCustomerEventsResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetCustomerId() == "" {
		return nil, grpcstatus.Invalid("customer_id", "is required")
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	page, err := c.s.store.CustomerEvents(ctx, ws, req.GetCustomerId(), size, req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &ingestionv1.ListCustomerEventsResponse{NextPageToken: page.NextToken}
	for _, e := range page.Events {
		pb, err := ingest.EventProto(e)
		if err != nil {
			return nil, toStatus(err)
		}
		resp.Events = append(resp.Events, pb)
	}
	return resp, nil
}

// identityFields are the identities a request may name a customer by.
type identityFields struct {
	UserID, AnonymousID, Email, Phone, LineUserID string
}

// identityKeys normalises the identities a request names, as identity
// resolution does, and refuses a value that is no identity, naming its
// field.
func (s *Server) identityKeys(ctx context.Context, ws string, f identityFields) ([]identity.Key, error) {
	var keys []identity.Key
	if v := strings.TrimSpace(f.UserID); v != "" {
		keys = append(keys, identity.Key{Kind: identity.UserID, Value: v})
	}
	if v := strings.TrimSpace(f.AnonymousID); v != "" {
		keys = append(keys, identity.Key{Kind: identity.AnonymousID, Value: v})
	}
	if f.Email != "" {
		v := identity.NormalizeEmail(f.Email)
		if v == "" {
			return nil, grpcstatus.Invalid("email", "is not an e-mail address")
		}
		keys = append(keys, identity.Key{Kind: identity.Email, Value: v})
	}
	if f.Phone != "" {
		region, err := s.store.PhoneRegion(ctx, ws)
		if err != nil {
			return nil, toStatus(err)
		}
		v := profile.MobilePhone(f.Phone, region)
		if v == "" {
			return nil, grpcstatus.Invalid("phone", "is not a mobile phone number (fixed lines are no identity)")
		}
		keys = append(keys, identity.Key{Kind: identity.Phone, Value: v})
	}
	if v := strings.TrimSpace(f.LineUserID); v != "" {
		if identity.NormalizeLineUserID(v) == "" {
			return nil, grpcstatus.Invalid("line_user_id", fmt.Sprintf("is %d characters, over the limit of %d", len(v), tracking.MaxIDLength))
		}
		keys = append(keys, identity.Key{Kind: identity.LineUserID, Value: v})
	}
	return keys, nil
}

// markSuppressed sets the suppressed flag of the profiles pbs of custs.
func (s *Server) markSuppressed(ctx context.Context, ws string, custs []*customer.Customer, pbs []*ingestionv1.Customer) error {
	suppressed, err := s.rights.Suppressed(ctx, ws, custs)
	if err != nil {
		return err
	}
	for _, pb := range pbs {
		pb.Suppressed = suppressed[pb.GetCustomerId()]
	}
	return nil
}

func customerProto(c *customer.Customer) (*ingestionv1.Customer, error) {
	traits, err := structpb.NewStruct(c.Traits)
	if err != nil {
		return nil, fmt.Errorf("convert traits: %w", err)
	}
	pb := &ingestionv1.Customer{
		CustomerId: c.ID, Traits: traits, CreateTime: timestamppb.New(c.CreateTime), UpdateTime: timestamppb.New(c.UpdateTime),
		FirstSeenTime: timestamppb.New(c.FirstSeen), LastSeenTime: timestamppb.New(c.LastSeen), EventCount: c.EventCount,
		Consents: consentProtos(c.Consents),
	}
	for _, k := range c.Identities {
		pb.Identities = append(pb.Identities, &ingestionv1.Identity{Kind: k.Kind, Value: k.Value})
	}
	for _, t := range c.IdentityTraits {
		pb.IdentityTraits = append(pb.IdentityTraits, &ingestionv1.IdentityTrait{
			Trait: t.Trait, Original: t.Original, Normalized: t.Normalized, Key: t.Key, Issues: t.Issues,
		})
	}
	return pb, nil
}

// toStatus maps ingestion's errors to their gRPC status and leaves the rest
// to grpcstatus.FromError.
func toStatus(err error) error {
	var refusal *conflict.Error
	switch {
	case errors.Is(err, customer.ErrNotFound), errors.Is(err, workspace.ErrNotFound), errors.Is(err, dedupe.ErrNotFound),
		errors.Is(err, imports.ErrNotFound), errors.Is(err, rights.ErrNotFound):
		return grpcstatus.New(codes.NotFound, err.Error(), err)
	case errors.As(err, &refusal):
		return grpcstatus.Reasoned(codes.FailedPrecondition, refusal.Reason, refusal.Message, err)
	case errors.Is(err, customer.ErrStale):
		// Ingestion retries a stale transaction itself; one that still
		// loses the race is the caller's to retry.
		return grpcstatus.Reasoned(codes.Aborted, "CUSTOMER_MERGED_CONCURRENTLY", err.Error(), err)
	case errors.Is(err, dedupe.ErrTooMany):
		return grpcstatus.Reasoned(codes.FailedPrecondition, "WORKSPACE_TOO_LARGE_TO_SCAN", err.Error(), err)
	case errors.Is(err, dedupe.ErrClosed):
		return grpcstatus.New(codes.Unavailable, err.Error(), err)
	default:
		return grpcstatus.FromError(err)
	}
}
