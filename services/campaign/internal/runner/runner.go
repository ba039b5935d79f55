// Package runner moves customers through journeys. Bus consumers turn
// events and membership changes into entries, exits and resumed waits; a
// loop claims entries whose step is due, runs their steps up to the next
// wait, and queues sends for the send dispatcher. All state is in the
// store, so a restart (or kill -9) resumes where the last commit left off:
// a claimed entry whose run was not saved is claimed again when its lease
// ends, and its sends are keyed by (journey, customer, entry, step), so
// they are queued once.
package runner

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	domain "github.com/kizuna/kizuna/services/campaign/internal/campaign"
	"github.com/kizuna/kizuna/services/campaign/internal/journey"
	"github.com/kizuna/kizuna/services/campaign/internal/peers"
	"github.com/kizuna/kizuna/services/campaign/internal/store"
)

// Defaults for Config.
const (
	DefaultBatch        = 500
	DefaultLease        = time.Minute
	DefaultPollInterval = time.Second
	// LateAfter marks a step that ran this long after it was due as late.
	LateAfter = time.Minute
	// maxHops bounds the steps one run may take; validation rejects loops
	// without a wait, so only a definition changed under a running entry
	// could reach it.
	maxHops = 200
	// concurrency bounds the entries run at once (branches and local-time
	// delays call other services).
	concurrency = 16
)

// Peers is what the runner asks other services.
type Peers interface {
	Profiles(ctx context.Context, workspaceID string, ids []string) (map[string]peers.Profile, error)
	Settings(ctx context.Context, workspaceID string) (peers.Settings, error)
	Segments(ctx context.Context, workspaceID, customerID string) (map[string]bool, error)
	Members(ctx context.Context, workspaceID, segmentID string, fn func([]string) error) error
}

// Config configures a Runner.
type Config struct {
	Store  *store.Store
	Cache  *Cache
	Peers  Peers
	Logger *slog.Logger
	Now    func() time.Time
	// WakeSends is called after sends were queued.
	WakeSends    func()
	Batch        int
	Lease        time.Duration
	PollInterval time.Duration
}

// Runner runs journeys. Create it with New.
type Runner struct {
	store     *store.Store
	cache     *Cache
	peers     Peers
	log       *slog.Logger
	now       func() time.Time
	wakeSends func()
	batch     int
	lease     time.Duration
	poll      time.Duration
	wake      chan struct{}
}

// New returns a Runner.
func New(cfg Config) *Runner {
	r := &Runner{
		store: cfg.Store, cache: cfg.Cache, peers: cfg.Peers, log: cfg.Logger, now: cfg.Now, wakeSends: cfg.WakeSends,
		batch: cfg.Batch, lease: cfg.Lease, poll: cfg.PollInterval, wake: make(chan struct{}, 1),
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.wakeSends == nil {
		r.wakeSends = func() {}
	}
	if r.batch <= 0 {
		r.batch = DefaultBatch
	}
	if r.lease <= 0 {
		r.lease = DefaultLease
	}
	if r.poll <= 0 {
		r.poll = DefaultPollInterval
	}
	return r
}

// Wake makes the loop look for due entries now. It never blocks.
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// drainTimeout bounds how long a batch claimed before ctx ended may still
// run after it.
const drainTimeout = 10 * time.Second

// Run claims and runs due entries and enrols due broadcasts until ctx ends.
// Store errors are logged and retried at the next poll. A batch claimed
// before ctx ends is run and saved (for up to drainTimeout more): cut
// short, its entries would stay claimed by this stopped replica until
// their lease ran out — a minute in which no other replica may run them,
// on every rolling restart.
func (r *Runner) Run(ctx context.Context) error {
	ticker := time.NewTicker(r.poll)
	defer ticker.Stop()
	work, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopDrain := context.AfterFunc(ctx, func() { time.AfterFunc(drainTimeout, cancelWork) })
	defer stopDrain()
	for {
		r.enrollBroadcasts(ctx)
		for ctx.Err() == nil {
			n, err := r.RunDue(work)
			if err != nil && ctx.Err() == nil {
				r.log.Error("run due journey steps", slog.Any("error", err))
			}
			if err != nil || n < r.batch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-ticker.C:
		}
	}
}

// RunDue claims one batch of due entries, runs them and saves the result;
// it returns how many it claimed.
func (r *Runner) RunDue(ctx context.Context) (int, error) {
	token, err := newToken()
	if err != nil {
		return 0, err
	}
	now := r.now()
	claims, err := r.store.ClaimDueEntries(ctx, now, now.Add(r.lease), token, r.batch)
	if err != nil || len(claims) == 0 {
		return 0, err
	}
	// One read of each workspace's live journeys serves the whole batch.
	lives := map[string]*Live{}
	for _, e := range claims {
		if _, seen := lives[e.WorkspaceID]; seen {
			continue
		}
		l, err := r.cache.Live(ctx, e.WorkspaceID)
		if err != nil {
			return len(claims), err
		}
		lives[e.WorkspaceID] = l
	}
	save, sends := r.runAll(ctx, lives, claims, now)
	if _, err := r.store.SaveRuns(ctx, now, save); err != nil {
		return len(claims), err
	}
	if sends > 0 {
		r.wakeSends()
	}
	return len(claims), nil
}

// runAll runs entries side by side and returns the runs that could be
// decided and how many sends they queued. An entry whose run failed (a
// service was down) is left out and logged.
func (r *Runner) runAll(ctx context.Context, lives map[string]*Live, entries []store.Entry, now time.Time) ([]store.Run, int) {
	assigned, err := r.assignments(ctx, lives, entries)
	if err != nil {
		// Nothing is decided without them: the entries are tried again.
		if ctx.Err() == nil {
			r.log.Warn("journey steps will be retried", slog.Int("entries", len(entries)), slog.Any("error", err))
		}
		return nil, 0
	}
	runs := make([]store.Run, len(entries))
	ok := make([]bool, len(entries))
	var wg sync.WaitGroup
	slots := make(chan struct{}, concurrency)
	for i, e := range entries {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			run, err := r.step(ctx, lives[e.WorkspaceID], e, assigned[e.ID], now)
			if err != nil {
				if ctx.Err() == nil {
					r.log.Warn("journey step will be retried", slog.String("workspace_id", e.WorkspaceID),
						slog.String("entry_id", e.ID), slog.Any("error", err))
				}
				return
			}
			runs[i], ok[i] = run, true
		})
	}
	wg.Wait()
	var done []store.Run
	sends := 0
	for i := range runs {
		if ok[i] {
			done = append(done, runs[i])
			sends += len(runs[i].Sends)
		}
	}
	return done, sends
}

// entryContext is what a run learns about the customer lazily, once.
type entryContext struct {
	r        *Runner
	e        store.Entry
	profile  *peers.Profile
	segments map[string]bool
	// assigned holds the customer's recorded experiment arms: unit →
	// variant.
	assigned map[string]string
}

func (c *entryContext) traits(ctx context.Context) (map[string]any, bool, error) {
	if c.profile == nil {
		ps, err := c.r.peers.Profiles(ctx, c.e.WorkspaceID, []string{c.e.CustomerID})
		if err != nil {
			return nil, false, err
		}
		p, ok := ps[c.e.CustomerID]
		if !ok {
			return nil, false, nil
		}
		c.profile = &p
	}
	return c.profile.Traits, true, nil
}

func (c *entryContext) inSegment(ctx context.Context, segmentID string) (bool, error) {
	if c.segments == nil {
		s, err := c.r.peers.Segments(ctx, c.e.WorkspaceID, c.e.CustomerID)
		if err != nil {
			return false, err
		}
		c.segments = s
	}
	return c.segments[segmentID], nil
}

// step runs an entry from its current step to the next wait or its end.
// An error means the run could not be decided (a service was down); the
// entry is then left to be claimed again.
func (r *Runner) step(ctx context.Context, live *Live, e store.Entry, assigned map[string]string, now time.Time) (store.Run, error) {
	run := store.Run{Entry: e}
	j, ok := live.Journeys[e.JourneyID]
	if !ok {
		return run, fmt.Errorf("journey %q is not live: %w", e.JourneyID, store.ErrNotFound)
	}
	late := now.Sub(e.DueTime) > LateAfter
	ec := &entryContext{r: r, e: e, assigned: assigned}

	if reason, err := r.exitBeforeStep(ctx, ec, j); err != nil {
		return run, err
	} else if reason != "" {
		run.StepID, run.End, run.ExitReason = e.StepID, store.EntryExited, reason
		return run, nil
	}

	stepID, waiting, last := e.StepID, e.Waiting, e.StepID
	end := func(state, reason, errText string) (store.Run, error) {
		run.StepID, run.End, run.ExitReason, run.Error = stepID, state, reason, errText
		return run, nil
	}
	for hops := 0; ; hops++ {
		if stepID == "" {
			run.StepID, run.End = last, store.EntryCompleted
			return run, nil
		}
		last = stepID
		if hops >= maxHops {
			return end(store.EntryExited, campaignv1.ExitReason_STEP_FAILED.String(), fmt.Sprintf("more than %d steps without a wait", maxHops))
		}
		st := j.Graph.Step(stepID)
		if st == nil {
			return end(store.EntryExited, campaignv1.ExitReason_STEP_FAILED.String(), fmt.Sprintf("step %q no longer exists", stepID))
		}
		switch k := st.GetKind().(type) {
		case *campaignv1.Step_Send:
			id, err := domain.NewID("snd_")
			if err != nil {
				return run, err
			}
			sd := store.Send{
				WorkspaceID: e.WorkspaceID, ID: id, JourneyID: e.JourneyID, EntryID: e.ID, CustomerID: e.CustomerID,
				EntryNumber: e.Number, StepID: stepID, ChannelID: k.Send.GetChannelId(),
				ChannelType: live.ChannelTypes[k.Send.GetChannelId()], Transactional: k.Send.GetTransactional(),
				CreateTime: now, PlannedTime: now, Late: late,
			}
			if j.Experiments {
				ec.experiment(&run, j, live, stepID, k.Send, &sd)
			}
			run.Sends = append(run.Sends, sd)
			stepID = j.Graph.After(stepID)
		case *campaignv1.Step_Delay:
			if waiting {
				stepID, waiting = j.Graph.After(stepID), false
				continue
			}
			return r.wait(run, stepID, now.Add(k.Delay.GetDuration().AsDuration())), nil
		case *campaignv1.Step_DelayUntil:
			if waiting {
				stepID, waiting = j.Graph.After(stepID), false
				continue
			}
			at, err := r.localTime(ctx, ec, k.DelayUntil, now)
			if err != nil {
				return run, err
			}
			return r.wait(run, stepID, at), nil
		case *campaignv1.Step_WaitFor:
			if waiting {
				// Claimed while waiting: the timeout passed.
				stepID, waiting = k.WaitFor.GetOnTimeout(), false
				continue
			}
			return r.wait(run, stepID, now.Add(k.WaitFor.GetTimeout().AsDuration())), nil
		case *campaignv1.Step_Branch:
			yes, err := r.branch(ctx, ec, k.Branch)
			if err != nil {
				if errors.Is(err, peers.ErrNotFound) {
					return end(store.EntryExited, campaignv1.ExitReason_STEP_FAILED.String(), err.Error())
				}
				return run, err
			}
			if yes {
				stepID = k.Branch.GetThenStep()
			} else {
				stepID = k.Branch.GetElseStep()
			}
		case *campaignv1.Step_Exit:
			return end(store.EntryExited, campaignv1.ExitReason_EXIT_STEP.String(), "")
		default:
			return end(store.EntryExited, campaignv1.ExitReason_STEP_FAILED.String(), fmt.Sprintf("step %q has no kind", stepID))
		}
	}
}

func (r *Runner) wait(run store.Run, stepID string, until time.Time) store.Run {
	run.StepID, run.Waiting, run.DueTime = stepID, true, until
	return run
}

// exitBeforeStep checks the exit rules a run can see for itself: opt-outs
// and segment membership (events are applied as they arrive).
func (r *Runner) exitBeforeStep(ctx context.Context, ec *entryContext, j *Compiled) (string, error) {
	for _, rule := range j.Definition.GetExitRules() {
		switch k := rule.GetKind().(type) {
		case *campaignv1.ExitRule_Unsubscribed:
			opted, err := r.store.OptedOut(ctx, ec.e.WorkspaceID, []string{ec.e.CustomerID})
			if err != nil {
				return "", err
			}
			if unsubscribedMatches(j, k.Unsubscribed.GetChannelType(), opted[ec.e.CustomerID]) {
				return campaignv1.ExitReason_UNSUBSCRIBED.String(), nil
			}
		case *campaignv1.ExitRule_SegmentLeft:
			in, err := ec.inSegment(ctx, k.SegmentLeft.GetSegmentId())
			if err != nil {
				return "", err
			}
			if !in && j.EntryKind == store.EntrySegment {
				// A segment-entered journey whose customer is no longer in
				// the segment left it after entering.
				return campaignv1.ExitReason_SEGMENT_LEFT.String(), nil
			}
		}
	}
	return "", nil
}

func (r *Runner) branch(ctx context.Context, ec *entryContext, b *campaignv1.BranchStep) (bool, error) {
	switch c := b.GetCondition().(type) {
	case *campaignv1.BranchStep_InSegment:
		return ec.inSegment(ctx, c.InSegment.GetSegmentId())
	case *campaignv1.BranchStep_Trait:
		traits, found, err := ec.traits(ctx)
		if err != nil {
			return false, err
		}
		return found && journey.MatchTrait(c.Trait, traits), nil
	}
	return false, nil
}

// localTime is when a delayUntil step ends for the customer: their
// `timezone` trait, else the workspace's zone.
func (r *Runner) localTime(ctx context.Context, ec *entryContext, d *campaignv1.DelayUntilStep, now time.Time) (time.Time, error) {
	settings, err := r.peers.Settings(ctx, ec.e.WorkspaceID)
	if err != nil {
		return time.Time{}, err
	}
	traits, _, err := ec.traits(ctx)
	if err != nil {
		return time.Time{}, err
	}
	tz, _ := traits["timezone"].(string)
	clock, err := journey.ParseClock(d.GetLocalTime())
	if err != nil {
		return time.Time{}, err
	}
	return journey.NextLocal(now, journey.Location(tz, settings.Timezone), clock, d.GetWeekday()), nil
}

// enrollBroadcasts enrols the members of active broadcasts whose start time
// has come. A crash half way re-enrols from the start: entries already
// made are kept (one per customer), so nobody is sent twice.
func (r *Runner) enrollBroadcasts(ctx context.Context) {
	js, err := r.store.DueBroadcasts(ctx, 20)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("read due broadcasts", slog.Any("error", err))
		}
		return
	}
	for _, j := range js {
		b := j.Definition.GetEntry().GetBroadcast()
		if st := b.GetStartTime(); st != nil && r.now().Before(st.AsTime()) {
			continue
		}
		if err := r.enrollBroadcast(ctx, j, b.GetSegmentId()); err != nil && ctx.Err() == nil {
			r.log.Error("enrol broadcast", slog.String("workspace_id", j.WorkspaceID), slog.String("journey_id", j.ID), slog.Any("error", err))
		}
	}
}

func (r *Runner) enrollBroadcast(ctx context.Context, j store.Journey, segmentID string) error {
	first := ""
	if steps := j.Definition.GetSteps(); len(steps) > 0 {
		first = steps[0].GetId()
	}
	total := 0
	err := r.peers.Members(ctx, j.WorkspaceID, segmentID, func(ids []string) error {
		live, err := r.cache.Live(ctx, j.WorkspaceID)
		if err != nil {
			return err
		}
		now := r.now()
		es := make([]store.Entry, 0, len(ids))
		for _, id := range ids {
			eid, err := domain.NewID("ent_")
			if err != nil {
				return err
			}
			es = append(es, store.Entry{WorkspaceID: j.WorkspaceID, ID: eid, JourneyID: j.ID, CustomerID: id,
				StepID: first, DueTime: now, Event: "{}", EnterTime: now})
		}
		// Each member's first steps run now; one whose run could not be
		// decided enters due, for the loop to run.
		runs, sends := r.runAll(ctx, map[string]*Live{j.WorkspaceID: live}, es, now)
		decided := make(map[string]bool, len(runs))
		for _, run := range runs {
			decided[run.Entry.ID] = true
		}
		for _, e := range es {
			if !decided[e.ID] {
				runs = append(runs, store.Run{Entry: e, StepID: e.StepID, DueTime: e.DueTime})
			}
		}
		n, err := r.store.EnrollRuns(ctx, now, runs)
		total += n
		if n > 0 {
			r.Wake()
			if sends > 0 {
				r.wakeSends()
			}
		}
		return err
	})
	if errors.Is(err, peers.ErrNotFound) {
		// The segment is gone: nothing to enrol, ever.
		r.log.Warn("broadcast segment not found; nobody enrolled", slog.String("journey_id", j.ID), slog.String("segment_id", segmentID))
	} else if err != nil {
		return err
	}
	r.log.Info("broadcast enrolled", slog.String("workspace_id", j.WorkspaceID), slog.String("journey_id", j.ID), slog.Int("entries", total))
	return r.store.MarkEnrolled(ctx, j.WorkspaceID, j.ID)
}

func newToken() (string, error) {
	b := make([]byte, 12)
	if _, err := crand.Read(b); err != nil {
		return "", fmt.Errorf("lease token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
