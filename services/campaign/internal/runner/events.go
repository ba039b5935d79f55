package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	segmentationv1 "github.com/kizuna/kizuna/gen/kizuna/segmentation/v1"
	domain "github.com/kizuna/kizuna/services/campaign/internal/campaign"
	"github.com/kizuna/kizuna/services/campaign/internal/journey"
	"github.com/kizuna/kizuna/services/campaign/internal/store"
	"github.com/kizuna/kizuna/services/platform/bus"
)

// Track events with a meaning for consent.
const (
	EventUnsubscribed  = "Unsubscribed"
	EventLineFollowed  = "LINE Followed"
	EventLineUnfollow  = "LINE Unfollowed"
	SourceUnsubEvent   = "unsubscribed_event"
	SourceLineUnfollow = "line_unfollow"
	SourceLineFollow   = "line_follow"
	SourceUnsubLink    = "unsubscribe_link"
)

// ChannelTypeOf reads a channel name as an `Unsubscribed` event or a link
// carries it ("email", "EMAIL", "line", …); "" when unknown.
func ChannelTypeOf(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "email", "e-mail", "mail":
		return store.ChannelEmail
	case "line":
		return store.ChannelLine
	case "webhook":
		return store.ChannelWebhook
	}
	return ""
}

// HandleEvent applies one message of the events stream: consent changes,
// exit rules, waitFor steps and event entries. It is idempotent: a
// redelivered message changes nothing.
func (r *Runner) HandleEvent(ctx context.Context, m bus.Message) error {
	return r.HandleEvents(ctx, []bus.Message{m})
}

// HandleEvents applies messages of the events stream as HandleEvent does,
// in one transaction: a consumer that has fallen behind catches up with
// one commit per batch rather than per event.
func (r *Runner) HandleEvents(ctx context.Context, ms []bus.Message) error {
	var events []*ingestionv1.IngestionBusMessage
	lives := map[string]*Live{}
	for _, m := range ms {
		var msg ingestionv1.IngestionBusMessage
		if err := m.Unmarshal(&msg); err != nil {
			return err
		}
		ws := ""
		switch k := msg.GetPayload().(type) {
		case *ingestionv1.IngestionBusMessage_EventRecorded:
			ev := k.EventRecorded
			if ev.GetType() != ingestionv1.EventType_EVENT_TYPE_TRACK || ev.GetCustomerId() == "" {
				continue
			}
			ws = ev.GetWorkspaceId()
		case *ingestionv1.IngestionBusMessage_CustomerMerged:
		default:
			continue
		}
		if _, ok := lives[ws]; ws != "" && !ok {
			live, err := r.cache.Live(ctx, ws)
			if err != nil {
				return err
			}
			lives[ws] = live
		}
		if ev := msg.GetEventRecorded(); ev != nil && !changesEntries(lives[ws], ev.GetName()) {
			continue
		}
		events = append(events, &msg)
	}
	if len(events) == 0 {
		return nil
	}
	changed := false
	err := r.store.InTx(ctx, r.now(), func(t *store.Tx) error {
		changed = false
		var view entryView = t
		var bv *batchView
		var av *appliedView // a batch with merges
		switch {
		case len(events) > 1 && tracksOnly(events):
			// Read what the batch needs in a few statements, not a few
			// per event; writes keep the one-by-one semantics.
			items := make([]batchItem, len(events))
			for i, m := range events {
				ev := m.GetEventRecorded()
				items[i] = batchItem{ev.GetWorkspaceId(), eventMessageID(ev), ev.GetCustomerId()}
			}
			var err error
			if bv, err = newBatchView(ctx, t, lives, items, store.EntryEvent); err != nil {
				return err
			}
			view = bv
		case len(events) > 1:
			// Merges move entries behind a batchView's back: only the
			// keys are recorded and the entries locked up front, in
			// order. A merge is an item per customer it touches.
			var items []batchItem
			for _, m := range events {
				if ev := m.GetEventRecorded(); ev != nil {
					items = append(items, batchItem{ev.GetWorkspaceId(), eventMessageID(ev), ev.GetCustomerId()})
					continue
				}
				cm := m.GetCustomerMerged()
				for _, id := range append([]string{cm.GetSurvivorCustomerId()}, cm.GetMergedCustomerIds()...) {
					items = append(items, batchItem{cm.GetWorkspaceId(), mergeMessageID(cm), id})
				}
			}
			var err error
			if av, err = newAppliedView(ctx, t, items, func(string, []string, []store.Entry) error { return nil }); err != nil {
				return err
			}
			view = av
		}
		for _, msg := range events {
			if ev := msg.GetEventRecorded(); ev != nil {
				c, err := r.applyTrack(ctx, view, lives[ev.GetWorkspaceId()], ev)
				if err != nil {
					return err
				}
				changed = changed || c
				continue
			}
			cm := msg.GetCustomerMerged()
			first, err := view.FirstApply(ctx, cm.GetWorkspaceId(), mergeMessageID(cm))
			if err != nil {
				return err
			}
			if !first {
				continue
			}
			if av != nil {
				if err := av.flushConsents(ctx); err != nil {
					return err
				}
			}
			if err := t.MoveConsents(ctx, cm.GetWorkspaceId(), cm.GetSurvivorCustomerId(), cm.GetMergedCustomerIds()); err != nil {
				return err
			}
			moved, err := t.MoveEntries(ctx, cm.GetWorkspaceId(), cm.GetSurvivorCustomerId(), cm.GetMergedCustomerIds())
			if err != nil {
				return err
			}
			changed = changed || moved > 0
		}
		if bv != nil {
			return bv.flush(ctx)
		}
		if av != nil {
			return av.flushConsents(ctx)
		}
		return nil
	})
	if err == nil && changed {
		r.Wake()
	}
	return err
}

// changesEntries reports whether a track event of this name can change
// anything: set a consent, or enter, exit or move an entry of a live
// journey. Most events (page and product views) cannot, and are neither
// recorded as applied nor read for: a redelivery of one is judged again
// against the journeys live then, and an event received before a
// journey's activation still does not enter it.
func changesEntries(live *Live, name string) bool {
	switch name {
	case EventUnsubscribed, EventLineUnfollow, EventLineFollowed:
		return true
	}
	return live.Reacts[name]
}

// applyTrack applies one track event in t and reports whether it changed
// an entry.
func (r *Runner) applyTrack(ctx context.Context, t entryView, live *Live, ev *ingestionv1.Event) (bool, error) {
	ws, customer, name := ev.GetWorkspaceId(), ev.GetCustomerId(), ev.GetName()
	props := ev.GetProperties().AsMap()
	received := ev.GetReceiveTime().AsTime()
	changed := false
	if first, err := t.FirstApply(ctx, ws, eventMessageID(ev)); err != nil || !first {
		return false, err
	}
	optOut := ""
	switch name {
	case EventUnsubscribed:
		ch, _ := props["channel"].(string)
		if optOut = ChannelTypeOf(ch); optOut != "" {
			if err := t.SetConsent(ctx, store.ConsentChange{WorkspaceID: ws, CustomerID: customer, ChannelType: optOut, Source: SourceUnsubEvent}); err != nil {
				return false, err
			}
		}
	case EventLineUnfollow:
		optOut = store.ChannelLine
		if err := t.SetConsent(ctx, store.ConsentChange{WorkspaceID: ws, CustomerID: customer, ChannelType: optOut, Source: SourceLineUnfollow}); err != nil {
			return false, err
		}
	case EventLineFollowed:
		if err := t.SetConsent(ctx, store.ConsentChange{WorkspaceID: ws, CustomerID: customer, ChannelType: store.ChannelLine, Subscribed: true, Source: SourceLineFollow}); err != nil {
			return false, err
		}
	}
	entries, err := t.LiveEntries(ctx, ws, customer)
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		j, ok := live.Journeys[e.JourneyID]
		if !ok {
			continue
		}
		if reason := exitOnEvent(j, name, props, optOut); reason != "" {
			if err := t.EndEntry(ctx, e, reason, ""); err != nil {
				return false, err
			}
			changed = true
			continue
		}
		if j.State != store.JourneyActive || !e.Waiting {
			continue
		}
		if w := j.Graph.Step(e.StepID).GetWaitFor(); w != nil && journey.MatchEvent(w.GetEvent(), name, props) {
			if err := r.resume(ctx, t, e, w.GetOnEvent()); err != nil {
				return false, err
			}
			changed = true
		}
	}
	for _, j := range live.Journeys {
		if j.State != store.JourneyActive || j.EntryKind != store.EntryEvent || j.EntryKey != name {
			continue
		}
		// An event received before activation (a consumer catching
		// up) does not enter.
		if received.Before(j.ActivateTime) || !journey.MatchEvent(j.Definition.GetEntry().GetEvent(), name, props) {
			continue
		}
		in, err := r.enroll(ctx, t, j, customer, ev.GetProperties().AsMap())
		if err != nil {
			return false, err
		}
		changed = changed || in
	}
	return changed, nil
}

// resume moves a waiting entry on to step (completing it when step is "").
func (r *Runner) resume(ctx context.Context, t entryView, e store.Entry, step string) error {
	if step == "" {
		return t.EndEntry(ctx, e, "", "")
	}
	return t.MoveEntry(ctx, e, step)
}

// exitOnEvent returns the exit reason an event triggers for an entry of j,
// or "". optOut is the channel type the event opts out of, if any.
func exitOnEvent(j *Compiled, name string, props map[string]any, optOut string) string {
	for _, rule := range j.Definition.GetExitRules() {
		switch k := rule.GetKind().(type) {
		case *campaignv1.ExitRule_Event:
			if journey.MatchEvent(k.Event, name, props) {
				return campaignv1.ExitReason_EXIT_EVENT.String()
			}
		case *campaignv1.ExitRule_Unsubscribed:
			if optOut != "" && unsubscribedMatches(j, k.Unsubscribed.GetChannelType(), map[string]bool{optOut: true}) {
				return campaignv1.ExitReason_UNSUBSCRIBED.String()
			}
		}
	}
	return ""
}

// unsubscribedMatches reports whether opted-out channel types trigger an
// unsubscribed exit rule for channel type want (any the journey sends on
// when unspecified).
func unsubscribedMatches(j *Compiled, want ingestionv1.ChannelType, optedOut map[string]bool) bool {
	if want != ingestionv1.ChannelType_CHANNEL_TYPE_UNSPECIFIED {
		return optedOut[store.StoredChannelType(want)]
	}
	for _, t := range j.SendTypes {
		if optedOut[t] {
			return true
		}
	}
	return false
}

// enroll enters the customer into j if its re-entry rule allows, and
// reports whether it did.
func (r *Runner) enroll(ctx context.Context, t entryView, j *Compiled, customer string, props map[string]any) (bool, error) {
	last, ok, err := t.LastEntry(ctx, j.WorkspaceID, j.ID, customer)
	if err != nil {
		return false, err
	}
	number := 1
	if ok {
		if last.State == store.EntryInProgress {
			return false, nil
		}
		switch j.Definition.GetReentry() {
		case campaignv1.Reentry_REENTRY_AFTER_EXIT:
		case campaignv1.Reentry_REENTRY_AFTER_COOLDOWN:
			if r.now().Sub(last.EnterTime) < j.Definition.GetReentryCooldown().AsDuration() {
				return false, nil
			}
		default:
			return false, nil
		}
		number = last.Number + 1
	}
	event := "{}"
	if len(props) > 0 {
		b, err := json.Marshal(props)
		if err != nil {
			return false, fmt.Errorf("entry event: %w", err)
		}
		event = string(b)
	}
	id, err := domain.NewID("ent_")
	if err != nil {
		return false, err
	}
	now := r.now()
	return t.InsertEntry(ctx, store.Entry{
		WorkspaceID: j.WorkspaceID, ID: id, JourneyID: j.ID, CustomerID: customer, Number: number,
		StepID: j.Graph.First(), DueTime: now, Event: event, EnterTime: now,
	})
}

// HandleMembership applies one segment membership change: segment entries,
// waitFor steps on a segment, and segment_left exit rules.
func (r *Runner) HandleMembership(ctx context.Context, m bus.Message) error {
	return r.HandleMemberships(ctx, []bus.Message{m})
}

// HandleMemberships applies membership changes as HandleMembership does,
// in order, in one transaction, reading what they need of the store in a
// few statements: a burst of changes (a segment filling up) costs a
// commit and a handful of queries, not a few of each per change.
func (r *Runner) HandleMemberships(ctx context.Context, ms []bus.Message) error {
	var changes []*segmentationv1.SegmentMembershipChanged
	lives := map[string]*Live{}
	for _, m := range ms {
		var mc segmentationv1.SegmentMembershipChanged // MembershipChanged too: same wire format
		if err := m.Unmarshal(&mc); err != nil {
			return err
		}
		ws := mc.GetWorkspaceId()
		if ws == "" || mc.GetCustomerId() == "" {
			continue
		}
		if _, ok := lives[ws]; !ok {
			live, err := r.cache.Live(ctx, ws)
			if err != nil {
				return err
			}
			lives[ws] = live
		}
		changes = append(changes, &mc)
	}
	if len(changes) == 0 {
		return nil
	}
	changed := false
	err := r.store.InTx(ctx, r.now(), func(t *store.Tx) error {
		changed = false
		var view entryView = t
		var bv *batchView
		if len(changes) > 1 {
			items := make([]batchItem, len(changes))
			for i, mc := range changes {
				items[i] = batchItem{mc.GetWorkspaceId(), membershipMessageID(mc), mc.GetCustomerId()}
			}
			var err error
			if bv, err = newBatchView(ctx, t, lives, items, store.EntrySegment); err != nil {
				return err
			}
			view = bv
		}
		for _, mc := range changes {
			c, err := r.applyMembership(ctx, view, lives[mc.GetWorkspaceId()], mc)
			if err != nil {
				return err
			}
			changed = changed || c
		}
		if bv != nil {
			return bv.flush(ctx)
		}
		return nil
	})
	if err == nil && changed {
		r.Wake()
	}
	return err
}

// membershipMessageID is the applied_messages key of a membership change.
func membershipMessageID(mc *segmentationv1.SegmentMembershipChanged) string {
	return "membership:" + mc.GetChangeId()
}

// applyMembership applies one membership change in t and reports whether
// it changed an entry.
func (r *Runner) applyMembership(ctx context.Context, t entryView, live *Live, mc *segmentationv1.SegmentMembershipChanged) (bool, error) {
	ws, customer, segment := mc.GetWorkspaceId(), mc.GetCustomerId(), mc.GetSegmentId()
	if first, err := t.FirstApply(ctx, ws, membershipMessageID(mc)); err != nil || !first {
		return false, err
	}
	entries, err := t.LiveEntries(ctx, ws, customer)
	if err != nil {
		return false, err
	}
	changed := false
	for _, e := range entries {
		j, ok := live.Journeys[e.JourneyID]
		if !ok {
			continue
		}
		if !mc.GetJoined() {
			if leftExit(j, segment) {
				if err := t.EndEntry(ctx, e, campaignv1.ExitReason_SEGMENT_LEFT.String(), ""); err != nil {
					return false, err
				}
				changed = true
			}
			continue
		}
		if j.State != store.JourneyActive || !e.Waiting {
			continue
		}
		if w := j.Graph.Step(e.StepID).GetWaitFor(); w != nil && w.GetSegmentEntered().GetSegmentId() == segment {
			if err := r.resume(ctx, t, e, w.GetOnEvent()); err != nil {
				return false, err
			}
			changed = true
		}
	}
	if !mc.GetJoined() {
		return changed, nil
	}
	changeTime := mc.GetChangeTime().AsTime()
	for _, j := range live.Journeys {
		if j.State != store.JourneyActive || j.EntryKind != store.EntrySegment || j.EntryKey != segment || changeTime.Before(j.ActivateTime) {
			continue
		}
		in, err := r.enroll(ctx, t, j, customer, nil)
		if err != nil {
			return false, err
		}
		changed = changed || in
	}
	return changed, nil
}

func leftExit(j *Compiled, segment string) bool {
	for _, rule := range j.Definition.GetExitRules() {
		if rule.GetSegmentLeft().GetSegmentId() == segment {
			return true
		}
	}
	return false
}
