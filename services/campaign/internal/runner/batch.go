package runner

import (
	"context"
	"maps"
	"slices"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/campaign/internal/store"
)

// entryView is what applying an event reads and writes of the store:
// *store.Tx one statement at a time, or a batchView that reads a whole
// batch's needs up front.
type entryView interface {
	FirstApply(ctx context.Context, workspaceID, messageID string) (bool, error)
	LiveEntries(ctx context.Context, workspaceID, customerID string) ([]store.Entry, error)
	LastEntry(ctx context.Context, workspaceID, journeyID, customerID string) (store.Entry, bool, error)
	InsertEntry(ctx context.Context, e store.Entry) (bool, error)
	EndEntry(ctx context.Context, e store.Entry, reason, errText string) error
	MoveEntry(ctx context.Context, e store.Entry, stepID string) error
	SetConsent(ctx context.Context, c store.ConsentChange) error
}

var _ entryView = (*store.Tx)(nil)

// tracksOnly reports whether every message is an event (no merge, which
// moves entries behind a batchView's back).
func tracksOnly(msgs []*ingestionv1.IngestionBusMessage) bool {
	for _, m := range msgs {
		if m.GetEventRecorded() == nil {
			return false
		}
	}
	return true
}

// batchView answers the reads of a batch of track events or membership
// changes from what it read
// in a few statements up front (which messages are new, the customers'
// entries in progress, their last entries into event-entry journeys), and
// keeps that picture current as the events are applied in order. New
// entries are inserted together by flush; an entry inserted in the batch
// is flushed before any write that could touch it.
type batchView struct {
	*appliedView
	live    map[string][]store.Entry // workspace + customer → in progress
	last    map[lastKey]store.Entry
	pending []store.Entry
}

type lastKey struct{ ws, journey, customer string }

func liveKey(ws, customer string) string { return ws + "\x00" + customer }

// batchItem is a message of a batch as newBatchView reads for it: its
// applied_messages key and its customer.
type batchItem struct{ workspaceID, messageID, customerID string }

// newBatchView reads what a batch needs: which of its messages are new,
// the entries in progress of their customers and those customers' last
// entries into the journeys entered by entryKind.
func newBatchView(ctx context.Context, t *store.Tx, lives map[string]*Live, items []batchItem, entryKind string) (*batchView, error) {
	v := &batchView{live: map[string][]store.Entry{}, last: map[lastKey]store.Entry{}}
	var err error
	if v.appliedView, err = newAppliedView(ctx, t, items, func(ws string, cs []string, es []store.Entry) error {
		for _, e := range es {
			k := liveKey(ws, e.CustomerID)
			v.live[k] = append(v.live[k], e)
		}
		var journeys []string
		if live := lives[ws]; live != nil {
			for id, j := range live.Journeys {
				if j.EntryKind == entryKind {
					journeys = append(journeys, id)
				}
			}
		}
		slices.Sort(journeys)
		last, err := t.LastEntries(ctx, ws, journeys, cs)
		if err != nil {
			return err
		}
		for k, e := range last {
			v.last[lastKey{ws, k.JourneyID, k.CustomerID}] = e
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return v, nil
}

// appliedView records a batch's messages applied up front, in key order
// (store.FirstApplyMany), and answers FirstApply from that; it queues the
// consents the events set, written in key order by flushConsents; the
// rest goes to the transaction.
type appliedView struct {
	*store.Tx
	fresh    map[store.AppliedKey]bool
	consents []store.ConsentChange
}

// newAppliedView records the items' messages applied and locks their
// customers' entries in progress (store.LiveEntriesOf), both in one order
// whatever the batch's, so that batches of the two consumers, or two
// holding the same messages, cannot deadlock. It calls read with each
// workspace's customers, sorted, and their entries in progress.
func newAppliedView(ctx context.Context, t *store.Tx, items []batchItem, read func(ws string, customers []string, live []store.Entry) error) (*appliedView, error) {
	keys := make([]store.AppliedKey, 0, len(items))
	customers := map[string][]string{} // workspace → customers
	for _, it := range items {
		keys = append(keys, store.AppliedKey{WorkspaceID: it.workspaceID, MessageID: it.messageID})
		customers[it.workspaceID] = append(customers[it.workspaceID], it.customerID)
	}
	fresh, err := t.FirstApplyMany(ctx, keys)
	if err != nil {
		return nil, err
	}
	for _, ws := range slices.Sorted(maps.Keys(customers)) {
		cs := slices.Compact(slices.Sorted(slices.Values(customers[ws])))
		es, err := t.LiveEntriesOf(ctx, ws, cs)
		if err != nil {
			return nil, err
		}
		if err := read(ws, cs, es); err != nil {
			return nil, err
		}
	}
	return &appliedView{Tx: t, fresh: fresh}, nil
}

// mergeMessageID is the applied_messages key of a merge.
func mergeMessageID(cm *ingestionv1.CustomerMerged) string { return "merge:" + cm.GetMergeId() }

// eventMessageID is the applied_messages key of a track event.
func eventMessageID(ev *ingestionv1.Event) string { return "event:" + ev.GetEventId() }

// FirstApply answers from the batch's one insert; a message id seen twice
// in the batch is new only the first time.
func (v *appliedView) FirstApply(_ context.Context, workspaceID, messageID string) (bool, error) {
	k := store.AppliedKey{WorkspaceID: workspaceID, MessageID: messageID}
	fresh := v.fresh[k]
	delete(v.fresh, k)
	return fresh, nil
}

// SetConsent queues c for flushConsents: written in message order, two
// batches could wait on each other's consent rows. Nothing in the batch
// reads consents back.
func (v *appliedView) SetConsent(_ context.Context, c store.ConsentChange) error {
	v.consents = append(v.consents, c)
	return nil
}

// flushConsents writes the queued consents, in key order
// (store.SetConsents). A merge moving consents flushes them first, so it
// moves those its customers set before it.
func (v *appliedView) flushConsents(ctx context.Context) error {
	err := v.Tx.SetConsents(ctx, v.consents)
	v.consents = nil
	return err
}

// LiveEntries answers from the batch's picture.
func (v *batchView) LiveEntries(_ context.Context, workspaceID, customerID string) ([]store.Entry, error) {
	return slices.Clone(v.live[liveKey(workspaceID, customerID)]), nil
}

// LastEntry answers from the batch's picture.
func (v *batchView) LastEntry(_ context.Context, workspaceID, journeyID, customerID string) (store.Entry, bool, error) {
	e, ok := v.last[lastKey{workspaceID, journeyID, customerID}]
	return e, ok, nil
}

// InsertEntry queues e for flush. The picture says the customer is not in
// the journey (its callers check), and unique keys still guard the insert.
func (v *batchView) InsertEntry(_ context.Context, e store.Entry) (bool, error) {
	e.State = store.EntryInProgress
	v.pending = append(v.pending, e)
	k := liveKey(e.WorkspaceID, e.CustomerID)
	v.live[k] = append(v.live[k], e)
	v.last[lastKey{e.WorkspaceID, e.JourneyID, e.CustomerID}] = e
	return true, nil
}

// EndEntry ends e now and takes it out of the picture.
func (v *batchView) EndEntry(ctx context.Context, e store.Entry, reason, errText string) error {
	if err := v.flushFor(ctx, e); err != nil {
		return err
	}
	if err := v.Tx.EndEntry(ctx, e, reason, errText); err != nil {
		return err
	}
	k := liveKey(e.WorkspaceID, e.CustomerID)
	v.live[k] = slices.DeleteFunc(v.live[k], func(x store.Entry) bool { return x.ID == e.ID })
	lk := lastKey{e.WorkspaceID, e.JourneyID, e.CustomerID}
	if last, ok := v.last[lk]; ok && last.ID == e.ID {
		last.State = store.EntryCompleted
		if reason != "" {
			last.State = store.EntryExited
		}
		v.last[lk] = last
	}
	return nil
}

// MoveEntry moves e now and updates the picture.
func (v *batchView) MoveEntry(ctx context.Context, e store.Entry, stepID string) error {
	if err := v.flushFor(ctx, e); err != nil {
		return err
	}
	if err := v.Tx.MoveEntry(ctx, e, stepID); err != nil {
		return err
	}
	live := v.live[liveKey(e.WorkspaceID, e.CustomerID)]
	for i := range live {
		if live[i].ID == e.ID {
			live[i].StepID, live[i].Waiting = stepID, false
		}
	}
	return nil
}

// flushFor inserts the queued entries when e is one of them, so a write
// to it finds its row.
func (v *batchView) flushFor(ctx context.Context, e store.Entry) error {
	for _, p := range v.pending {
		if p.ID == e.ID {
			return v.flush(ctx)
		}
	}
	return nil
}

// flush writes the queued consents and inserts the queued entries.
func (v *batchView) flush(ctx context.Context) error {
	if err := v.flushConsents(ctx); err != nil {
		return err
	}
	if len(v.pending) == 0 {
		return nil
	}
	_, err := v.Tx.InsertEntries(ctx, v.pending)
	v.pending = nil
	return err
}
