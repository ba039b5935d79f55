package api

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/ingestion/internal/consent"
	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpcstatus"
	"github.com/kizuna/kizuna/services/platform/validation"
)

// maxConsentChanges bounds the changes of one UpdateCustomerConsent.
const maxConsentChanges = 32

// UpdateCustomerConsent records the changes as a "Consent Updated" event of
// the customer.
func (c *customerServer) UpdateCustomerConsent(ctx context.Context, req *ingestionv1.UpdateCustomerConsentRequest) (*ingestionv1.UpdateCustomerConsentResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	now := c.s.now().UTC()
	var v validation.Error
	if req.GetCustomerId() == "" {
		v.Add("customer_id", "is required")
	}
	changes := req.GetConsents()
	if len(changes) == 0 || len(changes) > maxConsentChanges {
		v.Addf("consents", "holds %d changes: 1 to %d", len(changes), maxConsentChanges)
	}
	msgID := strings.TrimSpace(req.GetMessageId())
	if len(msgID) > tracking.MaxIDLength || !utf8.ValidString(msgID) || strings.ContainsRune(msgID, 0) {
		v.Addf("message_id", "must be valid UTF-8 without NUL, at most %d bytes", tracking.MaxIDLength)
	}
	obj := map[string]any{}
	for i, ch := range changes {
		field := fmt.Sprintf("consents[%d]", i)
		p := ch.GetPurpose()
		switch {
		case !consent.ValidPurpose(p):
			v.Addf(field+".purpose", "%q is not a purpose: 1 to %d lower-case ASCII letters, digits and underscores, such as marketing_email", p, consent.MaxPurposeLength)
		case obj[p] != nil:
			v.Addf(field+".purpose", "%q is given twice", p)
		}
		if ch.Granted == nil {
			v.Add(field+".granted", "is required (true grants, false withdraws)")
		}
		src := strings.TrimSpace(ch.GetSource())
		if src == "" {
			src = consent.SourceAPI
		}
		if utf8.RuneCountInString(src) > consent.MaxSourceLength || !utf8.ValidString(src) || strings.ContainsRune(src, 0) {
			v.Addf(field+".source", "must be valid UTF-8 without NUL, at most %d characters", consent.MaxSourceLength)
		}
		at := now
		if ch.GetTime() != nil {
			if err := ch.GetTime().CheckValid(); err != nil || ch.GetTime().AsTime().After(now) || ch.GetTime().AsTime().Year() < 1970 {
				v.Add(field+".time", "must be a valid time, not in the future")
			} else {
				at = ch.GetTime().AsTime().UTC()
			}
		}
		obj[p] = map[string]any{"granted": ch.GetGranted(), "source": src, "time": at.Format("2006-01-02T15:04:05.999999Z07:00")}
	}
	if err := v.Err(); err != nil {
		return nil, grpcstatus.FromError(err)
	}
	if msgID == "" {
		msgID = ingest.NewID("consent")
	}
	// Statements of a suppressed person are dropped like their events.
	cust, err := c.s.store.Customer(ctx, ws, req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	suppressed, err := c.s.rights.Suppressed(ctx, ws, []*customer.Customer{cust})
	if err != nil {
		return nil, toStatus(err)
	}
	if suppressed[cust.ID] {
		return nil, grpcstatus.Reasoned(codes.FailedPrecondition, "CUSTOMER_SUPPRESSED", fmt.Sprintf("customer %q is suppressed: nothing is recorded about them", cust.ID), nil)
	}
	m := tracking.Message{
		Type: tracking.Track, MessageID: msgID, Name: consent.EventConsentUpdated, Timestamp: now,
		Properties: map[string]any{consent.TraitConsent: obj},
	}
	// The event carries an id of the customer's, so that an undone merge
	// re-resolves it to the right side.
	for _, k := range cust.Identities {
		switch k.Kind {
		case "user_id":
			m.UserID = k.Value
		case "anonymous_id":
			if m.AnonymousID == "" {
				m.AnonymousID = k.Value
			}
		}
	}
	live, err := c.s.ingester.RecordFor(ctx, ws, cust.ID, m)
	if err != nil {
		return nil, toStatus(err)
	}
	after, err := c.s.store.Customer(ctx, ws, live)
	if err != nil {
		return nil, toStatus(err)
	}
	pbs, err := c.s.customerProtos(ctx, ws, []*customer.Customer{after})
	if err != nil {
		return nil, toStatus(err)
	}
	return &ingestionv1.UpdateCustomerConsentResponse{Customer: pbs[0], EventId: msgID}, nil
}

// consentProtos lists a profile's consents in purpose order.
func consentProtos(s consent.State) []*ingestionv1.Consent {
	out := make([]*ingestionv1.Consent, 0, len(s))
	for _, p := range s.Purposes() {
		r := s[p]
		out = append(out, &ingestionv1.Consent{Purpose: p, Granted: r.Granted, Time: timestamppb.New(time.UnixMicro(r.Time).UTC()), Source: r.Source})
	}
	return out
}
