// Package rights carries out a person's data rights in ingestion: export of
// everything held about a customer, and DELETE, SUPPRESS and UNSUPPRESS
// regulations. Ingestion owns a regulation: it applies it to its own data in
// the request's transaction and queues it on the bus, in order with the
// events it concerns, for every other service; they report back and the
// regulation is DONE when all have.
//
// Suppression is kept by identity, not by customer: the SHA-256 of each
// identity (kind and normalised value) and of each customer id of the
// person. A message carrying any suppressed identity is dropped before it
// is stored, so a suppressed identity never resolves again — whatever
// merges and undos do to customer ids later. Hashes, because a deleted
// person's e-mail address must not stay readable in the suppression list,
// yet a late event carrying it must still be recognised.
package rights

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/identity"
	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
)

// Regulation types, as stored.
const (
	TypeDelete     = "delete"
	TypeSuppress   = "suppress"
	TypeUnsuppress = "unsuppress"
)

// Target kinds: how a regulation names the person.
const (
	TargetCustomerID = "customer_id"
	TargetUserID     = identity.UserID
	TargetEmail      = identity.Email
	TargetPhone      = identity.Phone
)

// Service names in a regulation's per-service state. Ingestion applies its
// part at once; the others report over the bus.
const ServiceIngestion = "ingestion"

// Services are every service that applies a regulation.
var Services = []string{ServiceIngestion, "segmentation", "metrics", "campaign"}

// KindRegulation is the outbox kind, and subject suffix, of
// RegulationRequested on the events stream.
const KindRegulation = "regulation"

// Errors callers map to API codes.
var (
	// ErrUnknownPerson reports a customer id that names no customer.
	ErrUnknownPerson = errors.New("no such customer")
)

// KeyHash is how a suppressed identity is stored.
func KeyHash(k identity.Key) string {
	sum := sha256.Sum256([]byte(k.Kind + "\x00" + k.Value))
	return hex.EncodeToString(sum[:])
}

// customerHash is how a suppressed customer id is stored.
func customerHash(id string) string { return KeyHash(identity.Key{Kind: TargetCustomerID, Value: id}) }

// Target names the person of a regulation: Kind is a Target* constant,
// Value normalised for identities.
type Target struct {
	Kind, Value string
}

// Rights applies regulations and answers exports.
type Rights struct {
	store  Store
	now    func() time.Time
	queued func()
}

// New returns Rights over s; queued is called after a regulation was
// queued on the outbox.
func New(s Store, now func() time.Time, queued func()) *Rights {
	return &Rights{store: s, now: now, queued: queued}
}

// NewID returns a regulation id.
type NewID func(prefix string) string

// Create records and applies a regulation of type typ to the person named
// by target, and queues it for the other services.
func (r *Rights) Create(ctx context.Context, ws, typ string, target Target, newID NewID) (Regulation, error) {
	now := r.now().UTC().Truncate(time.Microsecond)
	reg := Regulation{ID: newID("reg"), Type: typ, TargetKind: target.Kind, Target: target.Value, CreateTime: now}
	err := r.store.InTx(ctx, func(tx Tx) error {
		reg.CustomerIDs, reg.Services, reg.DoneTime = nil, nil, time.Time{}
		live := ""
		var keys []identity.Key
		if target.Kind == TargetCustomerID {
			id, err := tx.LiveCustomer(ctx, ws, target.Value)
			if errors.Is(err, customer.ErrNotFound) {
				return fmt.Errorf("customer %q: %w", target.Value, ErrUnknownPerson)
			}
			if err != nil {
				return err
			}
			live = id
		} else {
			key := identity.Key{Kind: target.Kind, Value: target.Value}
			keys = append(keys, key)
			id, err := tx.IdentityCustomer(ctx, ws, key)
			if err != nil {
				return err
			}
			if id != "" {
				if live, err = tx.LiveCustomer(ctx, ws, id); err != nil {
					return err
				}
			}
		}
		if live != "" {
			ids, err := tx.PersonCustomerIDs(ctx, ws, live)
			if err != nil {
				return err
			}
			held, err := tx.PersonKeys(ctx, ws, ids)
			if err != nil {
				return err
			}
			reg.CustomerIDs = ids
			keys = append(keys, held...)
		}
		hashes := make([]string, 0, len(keys)+len(reg.CustomerIDs))
		for _, k := range keys {
			hashes = append(hashes, KeyHash(k))
		}
		for _, id := range reg.CustomerIDs {
			hashes = append(hashes, customerHash(id))
		}
		var affected int64
		switch typ {
		case TypeSuppress:
			if err := tx.Suppress(ctx, ws, hashes, reg.ID, now); err != nil {
				return err
			}
			affected = int64(len(reg.CustomerIDs))
		case TypeUnsuppress:
			n, err := tx.Unsuppress(ctx, ws, hashes)
			if err != nil {
				return err
			}
			affected = n
		case TypeDelete:
			// Suppress first: the same transaction, so no event can slip in
			// between the deletion and the suppression.
			if err := tx.Suppress(ctx, ws, hashes, reg.ID, now); err != nil {
				return err
			}
			n, err := tx.ErasePerson(ctx, ws, reg.CustomerIDs, keys)
			if err != nil {
				return err
			}
			affected = n
			if target.Kind != TargetCustomerID {
				reg.Target = Mask(target.Value)
			}
		default:
			return fmt.Errorf("regulation type %q: unknown", typ)
		}
		for _, svc := range Services {
			s := RegulationService{Service: svc, UpdateTime: now}
			if svc == ServiceIngestion {
				s.Done, s.AffectedRows = true, affected
			}
			reg.Services = append(reg.Services, s)
		}
		if err := tx.InsertRegulation(ctx, ws, reg); err != nil {
			return err
		}
		msg := &ingestionv1.RegulationRequested{
			RegulationId: reg.ID, WorkspaceId: ws, Type: TypeProto(typ), CustomerIds: reg.CustomerIDs, RequestTime: timestamppb.New(now),
		}
		payload, err := proto.Marshal(&ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_RegulationRequested{RegulationRequested: msg}})
		if err != nil {
			return fmt.Errorf("encode regulation: %w", err)
		}
		return tx.AppendOutbox(ctx, ws, KindRegulation, reg.ID, payload, now)
	})
	if err != nil {
		return Regulation{}, fmt.Errorf("%s regulation: %w", typ, err)
	}
	r.queued()
	return reg, nil
}

// Mask hides an identifier but for a hint a person can recognise
// ("h***@example.jp", "+81******78").
func Mask(v string) string {
	if local, domain, ok := strings.Cut(v, "@"); ok && local != "" {
		return local[:1] + "***@" + domain
	}
	if len(v) <= 4 {
		return "***"
	}
	return v[:3] + strings.Repeat("*", len(v)-5) + v[len(v)-2:]
}

// TypeProto converts a stored type.
func TypeProto(t string) ingestionv1.RegulationType {
	switch t {
	case TypeDelete:
		return ingestionv1.RegulationType_DELETE
	case TypeSuppress:
		return ingestionv1.RegulationType_SUPPRESS
	case TypeUnsuppress:
		return ingestionv1.RegulationType_UNSUPPRESS
	}
	return ingestionv1.RegulationType_REGULATION_TYPE_UNSPECIFIED
}

// Screen reports which of msgs carry a suppressed identity (nil when
// none), with one indexed query in tx for them all. It is the ingester's
// Screen (ingest.SetScreen): a suppressed message is dropped unstored, in
// the transaction that stores the rest.
func Screen(ctx context.Context, tx ingest.Suppressions, ws, region string, msgs []tracking.Message) ([]bool, error) {
	keysOf := make([][]string, len(msgs))
	var all []string
	for i, m := range msgs {
		for _, k := range identity.MessageKeys(m.Type, m.UserID, m.AnonymousID, m.Traits, m.Context, region) {
			keysOf[i] = append(keysOf[i], KeyHash(k))
		}
		if m.Type == tracking.Alias && m.PreviousID != "" {
			// An alias must not tie a new id to a suppressed one.
			for _, kind := range []string{identity.UserID, identity.AnonymousID} {
				keysOf[i] = append(keysOf[i], KeyHash(identity.Key{Kind: kind, Value: m.PreviousID}))
			}
		}
		all = append(all, keysOf[i]...)
	}
	suppressed, err := tx.SuppressedHashes(ctx, ws, all)
	if err != nil || len(suppressed) == 0 {
		return nil, err
	}
	dropped := make([]bool, len(msgs))
	for i := range msgs {
		for _, h := range keysOf[i] {
			dropped[i] = dropped[i] || suppressed[h]
		}
	}
	return dropped, nil
}

// Suppressed reports which of the customers are suppressed: one of their
// identities, or their id, is.
func (r *Rights) Suppressed(ctx context.Context, ws string, customers []*customer.Customer) (map[string]bool, error) {
	var all []string
	for _, c := range customers {
		all = append(all, customerHash(c.ID))
		for _, k := range c.Identities {
			all = append(all, KeyHash(k))
		}
	}
	found, err := r.store.SuppressedHashes(ctx, ws, all)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, c := range customers {
		s := found[customerHash(c.ID)]
		for _, k := range c.Identities {
			s = s || found[KeyHash(k)]
		}
		out[c.ID] = s
	}
	return out, nil
}

// Person returns the customer ids of the person whose live customer is
// live (it first, then those merged into it) and every identity they hold
// or held before a merge moved it.
func (r *Rights) Person(ctx context.Context, ws, live string) ([]string, []identity.Key, error) {
	var ids []string
	var keys []identity.Key
	err := r.store.InTx(ctx, func(tx Tx) error {
		var err error
		if ids, err = tx.PersonCustomerIDs(ctx, ws, live); err != nil {
			return err
		}
		keys, err = tx.PersonKeys(ctx, ws, ids)
		return err
	})
	return ids, keys, err
}
