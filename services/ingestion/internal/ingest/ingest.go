// Package ingest stores tracking messages: it resolves each to a customer,
// merges customers found to be one person, stores the event and queues the
// bus messages that tell the other services — all in one transaction per
// request, so a request is stored whole or not at all.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/ingestion/internal/consent"
	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/identity"
	"github.com/kizuna/kizuna/services/ingestion/internal/match"
	"github.com/kizuna/kizuna/services/ingestion/internal/normalize"
	"github.com/kizuna/kizuna/services/ingestion/internal/profile"
	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// Bus message kinds, the last token of their subject.
const (
	KindEvent    = "event"
	KindMerged   = "merged"
	KindUnmerged = "unmerged"
)

// Ingester stores tracking messages.
type Ingester struct {
	store Store
	now   func() time.Time
	// queued is told after a commit that put messages in the outbox.
	queued func()

	mu   sync.Mutex
	last time.Time // the latest receive time handed out

	// qmu guards the group-commit queue and whether a caller is writing.
	qmu     sync.Mutex
	queue   []*request
	writing bool

	// screen drops messages before they are stored; nil drops none.
	screen Screen
}

// Screen reports which of msgs, all of workspace ws, must be dropped
// unstored (nil when none): those carrying a suppressed identity. The
// group writer calls it in the transaction that stores the rest, once per
// workspace of a group, so a group costs one read of the suppression list
// and a suppression committed before the group is always seen.
type Screen func(ctx context.Context, tx Suppressions, ws, region string, msgs []tracking.Message) ([]bool, error)

// SetScreen makes the ingester drop what s reports. Call it before the
// first Ingest.
func (in *Ingester) SetScreen(s Screen) { in.screen = s }

// receiveTime returns the next message's receive time: now, but always
// after the previous message's, so that the order messages arrived in, also
// within one batch, survives in their times. Merges and their undo rely on
// it to tell what came before a merge from what came after.
func (in *Ingester) receiveTime() time.Time {
	in.mu.Lock()
	defer in.mu.Unlock()
	t := in.now().UTC().Truncate(time.Microsecond)
	if !t.After(in.last) {
		t = in.last.Add(time.Microsecond)
	}
	in.last = t
	return t
}

// New returns an Ingester; queued may be nil.
func New(s Store, now func() time.Time, queued func()) *Ingester {
	if queued == nil {
		queued = func() {}
	}
	return &Ingester{store: s, now: now, queued: queued}
}

// Result tells what a request did.
type Result struct {
	Accepted   int
	Duplicates int
	// Merged counts customers merged away by identity resolution.
	Merged int
	// Suppressed counts messages the screen dropped unstored. They count
	// as accepted too, as Segment answers a suppressed call (a client must
	// not retry it), with no customer.
	Suppressed int
	// CustomerIDs holds each message's customer, in request order.
	CustomerIDs []string
}

// maxUniqueRetries bounds retries when a concurrent request created the same
// identity first; the retry then finds and uses it.
const maxUniqueRetries = 3

// Ingest stores msgs for workspace ws and returns once they are committed.
//
// Requests are group-committed: one writer at a time takes every request
// queued meanwhile (up to maxGroupMessages) and stores them in one
// transaction, so concurrent callers share one commit and one sync instead
// of queueing on the database's write lock. A caller is answered only after
// the transaction holding its messages committed. The writer is whichever
// caller finds none running; when its group is done it hands the queue to
// the next waiting caller, so no goroutine outlives a request.
func (in *Ingester) Ingest(ctx context.Context, ws string, msgs []tracking.Message) (Result, error) {
	r, err := newRequest(ctx, ws, msgs)
	if err != nil {
		return Result{}, err
	}
	in.qmu.Lock()
	in.queue = append(in.queue, r)
	lead := !in.writing
	in.writing = true
	in.qmu.Unlock()
	if !lead {
		select {
		case o := <-r.done:
			if !o.lead {
				return o.res, o.err
			}
		case <-ctx.Done():
			if !in.abandon(r) {
				return Result{}, ctx.Err()
			}
		}
	}
	// This caller writes until its own request is answered.
	for {
		// Let callers already running reach the queue first: a group
		// shares one commit, whose cost is mostly per commit.
		runtime.Gosched()
		group := in.takeGroup()
		in.write(group)
		select {
		case o := <-r.done:
			in.handOff()
			return o.res, o.err
		default:
		}
	}
}

// abandon takes a request its caller gave up on out of the queue. It
// reports whether the caller was made the writer meanwhile and must write
// after all; a request a writer already took may still be stored (a retry
// is then answered as duplicates).
func (in *Ingester) abandon(r *request) (lead bool) {
	in.qmu.Lock()
	defer in.qmu.Unlock()
	select {
	case o := <-r.done:
		if o.lead {
			return true
		}
		return false
	default:
	}
	if i := slices.Index(in.queue, r); i >= 0 {
		in.queue = slices.Delete(in.queue, i, i+1)
	}
	return false
}

// request is one caller's messages waiting for the writer.
type request struct {
	ctx  context.Context
	ws   string
	msgs []tracking.Message
	// parts are the messages' events encoded by eventPart, by the caller.
	parts [][]byte
	// ids and keys are what storing msgs reads (lookUps), set by
	// prefetchGroup in the writer's transaction; msgKeys are each
	// message's own identity keys among keys (identity.MessageKeys), which
	// storing it resolves by.
	ids     []string
	keys    []identity.Key
	msgKeys [][]identity.Key
	// dropped marks the messages the screen dropped (nil: none), set by
	// screenGroup in the writer's transaction.
	dropped []bool
	done    chan outcome
}

// newRequest prepares msgs for the writer, encoding their events
// (eventPart) in the caller's goroutine, before the single writer takes
// them.
func newRequest(ctx context.Context, ws string, msgs []tracking.Message) (*request, error) {
	parts := make([][]byte, len(msgs))
	for i := range msgs {
		var err error
		if parts[i], err = eventPart(ws, &msgs[i]); err != nil {
			return nil, err
		}
	}
	return &request{ctx: ctx, ws: ws, msgs: msgs, parts: parts, done: make(chan outcome, 1)}, nil
}

// outcome answers a request; lead tells a waiting caller to become the
// writer instead.
type outcome struct {
	res  Result
	err  error
	lead bool
}

// maxGroupMessages bounds the messages of one group-commit transaction
// (a single request larger than this still goes whole).
const maxGroupMessages = 5000

// takeGroup removes the first requests of the queue, up to
// maxGroupMessages messages but at least one request.
func (in *Ingester) takeGroup() []*request {
	in.qmu.Lock()
	defer in.qmu.Unlock()
	n, total := 0, 0
	for n < len(in.queue) && (n == 0 || total+len(in.queue[n].msgs) <= maxGroupMessages) {
		total += len(in.queue[n].msgs)
		n++
	}
	group := slices.Clone(in.queue[:n])
	in.queue = slices.Delete(in.queue, 0, n)
	return group
}

// handOff makes the first waiting caller the writer, or marks none
// running.
func (in *Ingester) handOff() {
	in.qmu.Lock()
	defer in.qmu.Unlock()
	if len(in.queue) == 0 {
		in.writing = false
		return
	}
	in.queue[0].done <- outcome{lead: true}
	// It stays queued: as writer it takes its own request first.
}

// write stores a group in one transaction and answers every request of
// it. When the group fails and holds more than one request, each is
// stored alone, so one request's error is its own.
func (in *Ingester) write(group []*request) {
	results, err := in.storeGroup(group)
	if err != nil && len(group) > 1 {
		for _, r := range group {
			res, err := in.storeGroup([]*request{r})
			r.done <- outcome{res: res[0], err: err}
			if err == nil && res[0].Accepted > 0 {
				in.queued()
			}
		}
		return
	}
	for i, r := range group {
		var res Result
		if err == nil {
			res = results[i]
		}
		r.done <- outcome{res: res, err: err}
	}
	accepted := 0
	for _, res := range results {
		accepted += res.Accepted
	}
	if accepted > 0 {
		in.queued()
	}
}

// storeGroup writes a group in one transaction, retrying it whole after a
// unique violation or a stale customer.
func (in *Ingester) storeGroup(group []*request) ([]Result, error) {
	// The transaction serves every caller of the group: it must not end
	// when the one that happens to write goes away. Each request's own
	// context still carries its trace into the outbox.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(group[0].ctx), writeTimeout)
	defer cancel()
	results := make([]Result, len(group))
	var err error
	for attempt := 0; attempt < maxUniqueRetries; attempt++ {
		err = in.store.InTx(ctx, func(tx Tx) error {
			if err := in.screenGroup(ctx, tx, group); err != nil {
				return err
			}
			if err := prefetchGroup(ctx, tx, group); err != nil {
				return err
			}
			for i, r := range group {
				rctx, cancel := context.WithTimeout(context.WithoutCancel(r.ctx), writeTimeout)
				res, err := in.ingestTx(rctx, tx, r)
				cancel()
				if err != nil {
					return err
				}
				results[i] = res
			}
			return nil
		})
		// A concurrent request created the same identity, or merged away a
		// customer this one resolved to: resolving again settles both.
		if err == nil || !(sqldb.IsUniqueViolation(err) || errors.Is(err, customer.ErrStale)) {
			break
		}
	}
	if err != nil {
		n := 0
		for _, r := range group {
			n += len(r.msgs)
		}
		return results, fmt.Errorf("ingest %d messages: %w", n, err)
	}
	return results, nil
}

// writeTimeout bounds one group's transaction.
const writeTimeout = 60 * time.Second

// ingestTx stores one request's messages in tx as a set, after
// prefetchGroup: the rows are written together at commit.
func (in *Ingester) ingestTx(ctx context.Context, tx Tx, r *request) (Result, error) {
	ws, msgs := r.ws, r.msgs
	// Free unless a merge of an earlier request dropped the write set's
	// view: it keeps what it read and wrote.
	if err := tx.Prefetch(ctx, ws, r.ids, r.keys); err != nil {
		return Result{}, err
	}
	res := Result{CustomerIDs: make([]string, 0, len(msgs))}
	for i := range msgs {
		if r.dropped != nil && r.dropped[i] {
			res.Accepted++
			res.Suppressed++
			res.CustomerIDs = append(res.CustomerIDs, "")
			continue
		}
		id, dup, merged, err := in.one(ctx, tx, ws, &msgs[i], r.msgKeys[i], r.parts[i], in.receiveTime())
		if err != nil {
			return Result{}, err
		}
		res.Merged += merged
		res.CustomerIDs = append(res.CustomerIDs, id)
		if dup {
			res.Duplicates++
		} else {
			res.Accepted++
		}
	}
	return res, nil
}

// screenGroup sets which messages of each request the screen drops, with
// one call of it per workspace of the group.
func (in *Ingester) screenGroup(ctx context.Context, tx Tx, group []*request) error {
	if in.screen == nil {
		return nil
	}
	byWS := map[string][]*request{}
	var order []string
	for _, r := range group {
		if _, ok := byWS[r.ws]; !ok {
			order = append(order, r.ws)
		}
		byWS[r.ws] = append(byWS[r.ws], r)
	}
	for _, ws := range order {
		requests := byWS[ws]
		var msgs []tracking.Message
		for _, r := range requests {
			msgs = append(msgs, r.msgs...)
		}
		region, err := tx.PhoneRegion(ctx, ws)
		if err != nil {
			return err
		}
		dropped, err := in.screen(ctx, tx, ws, region, msgs)
		if err != nil {
			return err
		}
		for _, r := range requests {
			r.dropped = nil
			if dropped != nil {
				r.dropped, dropped = dropped[:len(r.msgs)], dropped[len(r.msgs):]
			}
		}
	}
	return nil
}

// lookUps sets what storing r's messages reads: their message ids (the
// duplicate check) and the identity keys they resolve by, all of them and
// each message's own. Normalising an e-mail or a phone number costs
// microseconds, so each message's keys are worked out once, here.
func lookUps(ctx context.Context, tx Tx, r *request) error {
	region, err := tx.PhoneRegion(ctx, r.ws)
	if err != nil {
		return err
	}
	r.ids, r.keys, r.msgKeys = make([]string, len(r.msgs)), nil, make([][]identity.Key, len(r.msgs))
	for i := range r.msgs {
		m := &r.msgs[i]
		r.ids[i] = m.MessageID
		r.msgKeys[i] = identity.MessageKeys(m.Type, m.UserID, m.AnonymousID, m.Traits, m.Context, region)
		r.keys = append(r.keys, r.msgKeys[i]...)
		if m.Type == tracking.Alias {
			r.keys = append(r.keys, identity.Key{Kind: identity.UserID, Value: m.PreviousID}, identity.Key{Kind: identity.AnonymousID, Value: m.PreviousID})
		}
	}
	return nil
}

// prefetchGroup reads what every request of a group needs in one duplicate
// check, one identity look-up and one lock per workspace, before the first
// request writes. Read per request instead, each look-up first wrote the
// rows the requests before it had buffered: on PostgreSQL a group of 32
// batches spent half its time in those round trips.
func prefetchGroup(ctx context.Context, tx Tx, group []*request) error {
	type reads struct {
		ids  []string
		keys []identity.Key
	}
	byWS := map[string]*reads{}
	var order []string
	for _, r := range group {
		if err := lookUps(ctx, tx, r); err != nil {
			return err
		}
		rd, ok := byWS[r.ws]
		if !ok {
			rd = &reads{}
			byWS[r.ws] = rd
			order = append(order, r.ws)
		}
		rd.ids = append(rd.ids, r.ids...)
		rd.keys = append(rd.keys, r.keys...)
	}
	for _, ws := range order {
		if err := tx.Prefetch(ctx, ws, byWS[ws].ids, byWS[ws].keys); err != nil {
			return err
		}
	}
	return nil
}

// one stores message m, whose identity keys are keys (lookUps).
func (in *Ingester) one(ctx context.Context, tx Tx, ws string, m *tracking.Message, keys []identity.Key, part []byte, now time.Time) (customerID string, duplicate bool, merged int, err error) {
	if id, ok, err := tx.EventCustomer(ctx, ws, m.MessageID); err != nil || ok {
		return id, ok, 0, err
	}
	region, err := tx.PhoneRegion(ctx, ws)
	if err != nil {
		return "", false, 0, err
	}
	matches, err := tx.FindIdentities(ctx, ws, keys)
	if err != nil {
		return "", false, 0, err
	}
	var aliasOf *identity.Customer
	if m.Type == tracking.Alias {
		prev, err := tx.FindIdentities(ctx, ws, []identity.Key{{Kind: identity.UserID, Value: m.PreviousID}, {Kind: identity.AnonymousID, Value: m.PreviousID}})
		if err != nil {
			return "", false, 0, err
		}
		if len(prev) > 0 {
			aliasOf = &prev[0].Customer
		}
	}
	traits, err := flagSharedMobile(ctx, tx, ws, m, matches)
	if err != nil {
		return "", false, 0, err
	}
	d := identity.Decide(keys, matches, aliasOf)
	customerID = d.CustomerID
	if customerID != "" {
		if err := tx.LockLive(ctx, ws, append([]string{customerID}, d.Merge...)); err != nil {
			return "", false, 0, err
		}
	}
	if customerID == "" {
		customerID = NewID("cus")
		if err := tx.CreateCustomer(ctx, ws, customerID, m.Timestamp, now); err != nil {
			return "", false, 0, err
		}
	}
	if len(d.Merge) > 0 {
		m := customer.Merge{ID: NewID("mrg"), SurvivorID: customerID, MergedIDs: d.Merge, Source: customer.SourceResolution, Time: now}
		if _, err := Merge(ctx, tx, ws, m); err != nil {
			return "", false, 0, err
		}
	}
	for _, k := range d.Attach {
		if err := tx.AttachIdentity(ctx, ws, k, customerID, now); err != nil {
			return "", false, 0, err
		}
	}
	if err := record(ctx, tx, ws, customerID, m, part, now); err != nil {
		return "", false, 0, err
	}
	if err := suggestSharedMobile(ctx, tx, ws, customerID, d.Suggest, m, traits, region, now); err != nil {
		return "", false, 0, err
	}
	return customerID, false, len(d.Merge), nil
}

// flagSharedMobile applies normalize.RuleSharedMobileNameConflict: it marks
// each match of the message's mobile number whose holder no other key of
// the message points at, and whose name conflicts with the message's name
// or with the name of a customer another key points at. Such a match is
// not followed (identity.Decide). It returns the traits it read, by
// customer, for the suggestions.
func flagSharedMobile(ctx context.Context, tx IdentityTx, ws string, m *tracking.Message, matches []identity.Match) (map[string]map[string]any, error) {
	others := map[string]bool{}
	var phones []int
	for i, mt := range matches {
		if mt.Key.Kind == identity.Phone {
			phones = append(phones, i)
		} else {
			others[mt.Customer.ID] = true
		}
	}
	if len(phones) == 0 {
		return nil, nil
	}
	msgName := personOf(userTraits(m))
	if msgName.IsZero() && len(others) == 0 {
		return nil, nil
	}
	ids := slices.Sorted(maps.Keys(others))
	for _, i := range phones {
		if c := matches[i].Customer.ID; !others[c] {
			ids = append(ids, c)
		}
	}
	traits, err := tx.CustomerTraits(ctx, ws, ids)
	if err != nil {
		return nil, err
	}
	for _, i := range phones {
		c := matches[i].Customer.ID
		if others[c] {
			continue // the same customer by another key: no one else's number
		}
		holder := personOf(traits[c])
		conflict := !msgName.IsZero() && normalize.SharedMobileNameConflict(msgName, holder)
		for o := range others {
			conflict = conflict || normalize.SharedMobileNameConflict(personOf(traits[o]), holder)
		}
		matches[i].NameConflict = conflict
	}
	return traits, nil
}

// suggestSharedMobile stores a merge suggestion between customerID and each
// holder of the message's mobile number it was not merged with (see
// flagSharedMobile), scored by the duplicate matcher's rules. A pair a
// person rejected before is not suggested again.
func suggestSharedMobile(ctx context.Context, tx SuggestionTx, ws, customerID string, holders []string, m *tracking.Message, traits map[string]map[string]any, region string, now time.Time) error {
	for _, h := range holders {
		if h == customerID {
			continue
		}
		own := maps.Clone(traits[customerID])
		if own == nil {
			own = map[string]any{}
		}
		maps.Copy(own, userTraits(m))
		a, b := profile.MatchRecord(customerID, own, region), profile.MatchRecord(h, traits[h], region)
		score, reasons, _ := match.Compare(&a, &b, match.DefaultOptions())
		if !slices.Contains(reasons, normalize.RuleSharedMobileNameConflict) {
			reasons = append(reasons, normalize.RuleSharedMobileNameConflict)
		}
		if _, err := tx.InsertSuggestion(ctx, ws, customer.Suggestion{
			ID: NewID("sug"), CustomerA: customerID, CustomerB: h, Score: score, Reasons: reasons, CreateTime: now,
		}); err != nil {
			return err
		}
	}
	return nil
}

// userTraits returns the traits a message states about its user: identify
// traits, else context.traits.
func userTraits(m *tracking.Message) map[string]any {
	if m.Type == tracking.Identify {
		return m.Traits
	}
	ct, _ := m.Context["traits"].(map[string]any)
	return ct
}

// personOf is the normalised name and reading in traits.
func personOf(traits map[string]any) normalize.PersonName {
	r := profile.Record("", traits)
	return normalize.Result{Name: normalize.NormalizeName(r.Name), Kana: normalize.NormalizeKana(r.NameKana)}.Person()
}

// recordTx is what record writes through.
type recordTx interface {
	EventTx
	Outbox
}

// record stores m as an event of customerID: the customer's counters,
// traits and consents, the event row and its bus message.
// part is m's event encoded by eventPart, or nil to encode it here.
func record(ctx context.Context, tx recordTx, ws, customerID string, m *tracking.Message, part []byte, now time.Time) error {
	var traits map[string]any
	if m.Type == tracking.Identify {
		traits = m.Traits
	}
	sts := consent.FromMessage(string(m.Type), m.Name, m.Traits, m.Properties, m.Context, m.Timestamp)
	if err := tx.Touch(ctx, ws, customerID, m.Timestamp, traits, sts, now); err != nil {
		return err
	}
	if err := tx.InsertEvent(ctx, eventOf(ws, customerID, m, now)); err != nil {
		return err
	}
	if part == nil {
		var err error
		if part, err = eventPart(ws, m); err != nil {
			return err
		}
	}
	payload, err := eventPayload(part, customerID, now)
	if err != nil {
		return err
	}
	if err := tx.AppendOutbox(ctx, ws, KindEvent, m.MessageID, payload, now); err != nil {
		return err
	}
	return nil
}

// RecordFor stores one message as an event of an existing customer,
// without identity resolution (the consent API records its statements
// so). It returns the live customer the event went to; a message id seen
// before stores nothing and returns the customer it went to then.
func (in *Ingester) RecordFor(ctx context.Context, ws, customerID string, m tracking.Message) (string, error) {
	var live string
	err := in.store.InTx(ctx, func(tx Tx) error {
		if id, ok, err := tx.EventCustomer(ctx, ws, m.MessageID); err != nil || ok {
			live = id
			return err
		}
		var err error
		if live, err = tx.LiveCustomer(ctx, ws, customerID); err != nil {
			return err
		}
		if err := tx.LockLive(ctx, ws, []string{live}); err != nil {
			return err
		}
		return record(ctx, tx, ws, live, &m, nil, in.receiveTime())
	})
	if err != nil {
		return "", err
	}
	in.queued()
	return live, nil
}

// Merge records a merge in tx and queues its CustomerMerged message.
func Merge(ctx context.Context, tx MergeTx, ws string, m customer.Merge) (customer.Merge, error) {
	m, err := tx.Merge(ctx, ws, m)
	if err != nil {
		return customer.Merge{}, err
	}
	payload, err := proto.Marshal(&ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_CustomerMerged{
		CustomerMerged: &ingestionv1.CustomerMerged{
			MergeId: m.ID, WorkspaceId: ws, SurvivorCustomerId: m.SurvivorID, MergedCustomerIds: m.MergedIDs, MergeTime: timestamppb.New(m.Time),
		},
	}})
	if err != nil {
		return customer.Merge{}, fmt.Errorf("encode merge: %w", err)
	}
	return m, tx.AppendOutbox(ctx, ws, KindMerged, m.ID, payload, m.Time)
}

// maxUnmergeEvents bounds the event ids of one CustomerUnmerged message,
// keeping it well under the bus's message size limit.
const maxUnmergeEvents = 5000

// Undo undoes a merge in tx and queues the CustomerUnmerged messages that
// tell consumers which events went back to which customer.
func Undo(ctx context.Context, tx MergeTx, ws, mergeID string, now time.Time) (customer.Merge, error) {
	u, err := tx.Undo(ctx, ws, mergeID, now)
	if err != nil {
		return customer.Merge{}, err
	}
	survivorTraits, err := structOf(u.Survivor.Traits)
	if err != nil {
		return customer.Merge{}, err
	}
	for _, r := range u.Restored {
		traits, err := structOf(r.Traits)
		if err != nil {
			return customer.Merge{}, err
		}
		// Every restored customer gets at least one message, even with no
		// events, so that consumers recreate it.
		for part, ids := 0, r.EventIDs; part == 0 || len(ids) > 0; part++ {
			n := min(len(ids), maxUnmergeEvents)
			msg := &ingestionv1.CustomerUnmerged{
				UnmergeId: NewID("umg"), WorkspaceId: ws, MergeId: mergeID,
				SurvivorCustomerId: u.Survivor.ID, RestoredCustomerId: r.ID, EventIds: ids[:n],
				RestoredTraits: traits, SurvivorTraits: survivorTraits, UndoTime: timestamppb.New(now),
				RestoredFirstSeenTime: timestamppb.New(r.FirstSeen), SurvivorFirstSeenTime: timestamppb.New(u.Survivor.FirstSeen),
			}
			ids = ids[n:]
			payload, err := proto.Marshal(&ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_CustomerUnmerged{CustomerUnmerged: msg}})
			if err != nil {
				return customer.Merge{}, fmt.Errorf("encode unmerge: %w", err)
			}
			if err := tx.AppendOutbox(ctx, ws, KindUnmerged, msg.UnmergeId, payload, now); err != nil {
				return customer.Merge{}, err
			}
		}
	}
	return u.Merge, nil
}

// NewID returns a resource id: a prefix and a time-ordered UUIDv7.
func NewID(prefix string) string {
	return prefix + "_" + uuid.Must(uuid.NewV7()).String()
}

// EventProto converts a stored event to its contract form.
func EventProto(e customer.Event) (*ingestionv1.Event, error) {
	props, err := structOf(e.Properties)
	if err != nil {
		return nil, err
	}
	traits, err := structOf(e.Traits)
	if err != nil {
		return nil, err
	}
	ctxs, err := structOf(e.Context)
	if err != nil {
		return nil, err
	}
	pb := &ingestionv1.Event{
		EventId: e.EventID, WorkspaceId: e.WorkspaceID, CustomerId: e.CustomerID, Type: eventTypes[tracking.Type(e.Type)],
		Name: e.Name, UserId: e.UserID, AnonymousId: e.AnonymousID,
		Timestamp: timestamppb.New(e.Time), ReceiveTime: timestamppb.New(e.ReceiveTime),
		Properties: props, Traits: traits, Context: ctxs, GroupId: e.GroupID, PreviousId: e.PreviousID,
	}
	if e.OrderID != "" {
		pb.Order = &ingestionv1.Order{OrderId: e.OrderID, Revenue: e.Revenue, Currency: e.Currency}
	}
	return pb, nil
}

var eventTypes = map[tracking.Type]ingestionv1.EventType{
	tracking.Identify: ingestionv1.EventType_EVENT_TYPE_IDENTIFY,
	tracking.Track:    ingestionv1.EventType_EVENT_TYPE_TRACK,
	tracking.Page:     ingestionv1.EventType_EVENT_TYPE_PAGE,
	tracking.Screen:   ingestionv1.EventType_EVENT_TYPE_SCREEN,
	tracking.Group:    ingestionv1.EventType_EVENT_TYPE_GROUP,
	tracking.Alias:    ingestionv1.EventType_EVENT_TYPE_ALIAS,
}

func structOf(m map[string]any) (*structpb.Struct, error) {
	if len(m) == 0 {
		return nil, nil
	}
	s, err := structpb.NewStruct(m)
	if err != nil {
		return nil, fmt.Errorf("convert to struct: %w", err)
	}
	return s, nil
}
