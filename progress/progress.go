package progress

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// DefaultStallAfter is how long a follower may go without a beat, or with work pending
// without advancing, before it counts as stalled. Followers beat about once a second.
const DefaultStallAfter = 5 * time.Second

// Board holds the trackers of one process's followers.
type Board struct {
	stallAfter time.Duration
	now        func() time.Time

	mu       sync.Mutex
	trackers []*Tracker
}

// Option configures a Board.
type Option func(*Board)

// WithStallAfter sets the stall time (default DefaultStallAfter).
func WithStallAfter(d time.Duration) Option { return func(b *Board) { b.stallAfter = d } }

// WithClock sets the clock (default time.Now), for tests.
func WithClock(now func() time.Time) Option { return func(b *Board) { b.now = now } }

// NewBoard returns an empty Board.
func NewBoard(opts ...Option) *Board {
	b := &Board{stallAfter: DefaultStallAfter, now: time.Now}
	for _, o := range opts {
		o(b)
	}
	return b
}

// Track registers a follower named name and returns its Tracker. head, when not nil, is
// the position the follower should reach (the newest event, say); without it a follower
// counts as having work pending never, and only its beats tell.
func (b *Board) Track(name string, head func() uint64) *Tracker {
	now := b.now()
	t := &Tracker{name: name, head: head, now: b.now, registered: now, beat: now, advanced: now}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.trackers = append(b.trackers, t)
	slices.SortStableFunc(b.trackers, func(x, y *Tracker) int {
		switch {
		case x.name < y.name:
			return -1
		case x.name > y.name:
			return 1
		}
		return 0
	})
	return t
}

// Report is one follower's state as the Board sees it.
type Report struct {
	Name     string
	Position uint64 // where it has got to (its own units: an event-store position, records handled)
	Head     uint64 // where it should get to; 0 when it has no head
	Behind   uint64 // Head − Position when positive
	// SinceBeat and SinceAdvance are how long ago it last beat (any report that shows it
	// alive) and last advanced (registration counts as both).
	SinceBeat, SinceAdvance time.Duration
	Stalled                 bool
	Reason                  string // why it is stalled; empty otherwise
	Err                     string // the last failure reported, until it is alive again
}

// Reports returns every follower's report, by name.
func (b *Board) Reports() []Report {
	b.mu.Lock()
	trackers := slices.Clone(b.trackers)
	b.mu.Unlock()
	now := b.now()
	out := make([]Report, 0, len(trackers))
	for _, t := range trackers {
		out = append(out, t.report(now, b.stallAfter))
	}
	return out
}

// Stalled returns nil when no follower is stalled, and otherwise an error naming each
// stalled follower and why.
func (b *Board) Stalled() error {
	var errs []error
	for _, r := range b.Reports() {
		if r.Stalled {
			errs = append(errs, fmt.Errorf("follower %s stalled: %s", r.Name, r.Reason))
		}
	}
	return errors.Join(errs...)
}

// Tracker receives one follower's reports. Safe for concurrent use.
type Tracker struct {
	name string
	head func() uint64
	now  func() time.Time

	mu                         sync.Mutex
	registered, beat, advanced time.Time
	behindSince                time.Time // since when every observation found the head past the position
	position                   uint64
	err                        error
	stopped                    bool
}

// Name returns the follower's name.
func (t *Tracker) Name() string { return t.name }

// Beat reports that the follower's loop is alive: idle, caught up, or between batches.
func (t *Tracker) Beat() {
	now, head := t.now(), t.headNow()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.beat, t.err, t.stopped = now, nil, false
	t.observe(now, head)
}

// Advanced reports progress to position (a beat as well). A position lower than the last
// one is kept (a restarted follower re-reading) but does not count as progress.
func (t *Tracker) Advanced(position uint64) {
	now, head := t.now(), t.headNow()
	t.mu.Lock()
	defer t.mu.Unlock()
	if position > t.position {
		t.advanced = now
	}
	t.position, t.beat, t.err, t.stopped = position, now, nil, false
	t.observe(now, head)
}

func (t *Tracker) headNow() uint64 {
	if t.head == nil {
		return 0
	}
	return t.head()
}

// observe notes whether the follower is behind its head; t.mu is held.
func (t *Tracker) observe(now time.Time, head uint64) {
	switch {
	case head <= t.position:
		t.behindSince = time.Time{}
	case t.behindSince.IsZero():
		t.behindSince = now
	}
}

// Failed reports a failed attempt that will be retried; the follower stalls if no beat
// follows within the stall time.
func (t *Tracker) Failed(err error) {
	if err == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.err = err
}

// Stopped reports that the follower's run ended: with an error it is stalled at once (its
// supervisor may restart it; the restarted run's first beat clears it).
func (t *Tracker) Stopped(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		t.err, t.stopped = err, true
	}
}

func (t *Tracker) report(now time.Time, stallAfter time.Duration) Report {
	head := t.headNow()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.observe(now, head)
	r := Report{Name: t.name, Position: t.position, Head: head, SinceBeat: now.Sub(t.beat), SinceAdvance: now.Sub(t.advanced)}
	if head > t.position {
		r.Behind = head - t.position
	}
	if t.err != nil {
		r.Err = t.err.Error()
	}
	switch {
	case t.stopped:
		r.Stalled, r.Reason = true, "stopped: "+r.Err
	case r.SinceBeat > stallAfter:
		r.Stalled, r.Reason = true, fmt.Sprintf("no heartbeat for %s", r.SinceBeat.Round(time.Second))
	case r.Behind > 0 && now.Sub(t.behindSince) > stallAfter && r.SinceAdvance > stallAfter:
		r.Stalled, r.Reason = true, fmt.Sprintf("%d behind and no progress for %s", r.Behind, r.SinceAdvance.Round(time.Second))
	}
	if r.Stalled && r.Err != "" && !t.stopped {
		r.Reason += "; last error: " + r.Err
	}
	return r
}

// Poll calls sample every interval until ctx ends: the way to track a follower that keeps
// its own status rather than reporting (sample reads the status and reports it on the
// follower's Tracker).
func Poll(ctx context.Context, interval time.Duration, sample func()) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		sample()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
