package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
)

// Source is what the projector needs of the event store.
type Source interface {
	Follow(ctx context.Context, after eventstore.Position, prefix string, handle eventstore.Handler) error
}

// Target is a read model the projector writes. Adapters implement it.
type Target interface {
	// Checkpoint is the position of the last event applied (0 = none).
	Checkpoint(ctx context.Context) (eventstore.Position, error)
	// Commit applies events with ApplyBatch and writes the changed rows, the history and
	// the new checkpoint in one transaction, provided the stored checkpoint is still from;
	// otherwise it writes nothing and fails with ErrCheckpointMoved. A poison event is
	// reported in Batch.Poison after the events before it were committed.
	Commit(ctx context.Context, from eventstore.Position, events []eventstore.RecordedEvent) (Batch, error)
	// DeadLetter records a poison event (idempotent per position).
	DeadLetter(ctx context.Context, d DeadLetter) error
}

// Exclusive is implemented by targets that several processes share: Exclusive runs fn
// only while this process holds the projection lease, standing by until it gets it, and
// cancels fn's context when the lease is lost. It returns when ctx ends or fn returns.
type Exclusive interface {
	Exclusive(ctx context.Context, fn func(ctx context.Context) error) error
}

// ErrRejected marks a Commit failure caused by the data, not by the target's health: the
// database refused a value (PostgreSQL: a data exception or integrity violation, e.g. a NUL
// in text) or applying the events panicked. The projector then commits one event at a time
// to find the event, and parks it as a dead letter after Options.MaxRejections attempts
// instead of retrying it for ever.
var ErrRejected = errors.New("read model rejected the events")

// ErrCheckpointMoved: the stored checkpoint is not where the projector left it (another
// projector, or a rebuild swapped the tables in); the projector restarts from the stored one.
var ErrCheckpointMoved = errors.New("checkpoint moved")

// Options tune a Projector. Zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// MaxBatch caps the events committed in one transaction (default 2000; the benchmark in
	// projections/postgres plateaus from there). The projector
	// drains what the store has ready, up to this many, so a busy store gets big batches
	// and a quiet one gets each event at once.
	MaxBatch int
	// MaxWait bounds how long a batch keeps collecting events that are arriving (default 50 ms).
	MaxWait time.Duration
	// RetryMin and RetryMax bound the backoff after a failure such as a lost database
	// connection (defaults 100 ms, 5 s).
	RetryMin, RetryMax time.Duration
	// MaxRejections is how often one event may be rejected (ErrRejected) before it is
	// parked as a dead letter (default 3).
	MaxRejections int
	// Now is the clock for dead letters (default time.Now).
	Now func() time.Time
	// Name goes into log lines (default "readmodel").
	Name string
}

// Projector follows every payment stream from the target's checkpoint and commits the
// projection in batches. Safe for concurrent use; Run once.
type Projector struct {
	src  Source
	dst  Target
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	status  ProjectorStatus
	stopped chan struct{} // closed when a poison event stopped the projector

	// isolateUntil: after a batch was rejected, events up to this position are committed
	// one at a time so that a rejection names its event.
	isolateUntil atomic.Uint64
}

// rejection is a single event the target rejected (ErrRejected).
type rejection struct {
	event eventstore.RecordedEvent
	err   error
}

func (r *rejection) Error() string {
	return fmt.Sprintf("%s@%d (position %d) rejected: %v", r.event.Stream, r.event.Revision, r.event.Position, r.err)
}

func (r *rejection) Unwrap() error { return r.err }

// ProjectorStatus is the projector's health as operators see it.
type ProjectorStatus struct {
	Active     bool                // holds the lease and is projecting (false: standing by)
	Checkpoint eventstore.Position // last committed by this projector
	Applied    uint64              // events applied since start
	Err        string              // the failure being retried, or the poison event
	Poisoned   bool                // stopped at an event it cannot apply: red until fixed and restarted
}

// NewProjector returns a projector from src into dst.
func NewProjector(src Source, dst Target, opts Options) *Projector {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 2000
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = 50 * time.Millisecond
	}
	if opts.RetryMin <= 0 {
		opts.RetryMin = 100 * time.Millisecond
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 5 * time.Second
	}
	if opts.MaxRejections <= 0 {
		opts.MaxRejections = 3
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Name == "" {
		opts.Name = "readmodel"
	}
	return &Projector{src: src, dst: dst, opts: opts, log: opts.Logger.With("projection", opts.Name), stopped: make(chan struct{})}
}

// Status reports the projector's health.
func (p *Projector) Status() ProjectorStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

// Health is nil while the projector is healthy (projecting or standing by) and describes
// the failure otherwise.
func (p *Projector) Health() error {
	st := p.Status()
	if st.Err != "" {
		return fmt.Errorf("projection %s: %s", p.opts.Name, st.Err)
	}
	return nil
}

// Poisoned is closed when the projector stopped at a poison event.
func (p *Projector) Poisoned() <-chan struct{} { return p.stopped }

// Run projects until ctx ends (returning nil). Failures such as a lost database are logged
// and retried with backoff from the stored checkpoint (Health is red meanwhile). A poison
// event — one Apply cannot apply, or one the target rejected MaxRejections times in a row —
// is recorded as a dead letter, logged as an operator alert and stops projecting; Run then
// waits for ctx.
func (p *Projector) Run(ctx context.Context) error {
	backoff := p.opts.RetryMin
	var (
		rejectedAt eventstore.Position // the event rejected last, and how often in a row
		rejections int
	)
	for ctx.Err() == nil {
		var err error
		if ex, ok := p.dst.(Exclusive); ok {
			err = ex.Exclusive(ctx, p.project)
		} else {
			err = p.project(ctx)
		}
		p.setActive(false)
		var (
			poison   *PoisonError
			rejected *rejection
		)
		if errors.As(err, &rejected) {
			if rejected.event.Position != rejectedAt {
				rejectedAt, rejections = rejected.event.Position, 0
			}
			if rejections++; rejections >= p.opts.MaxRejections {
				poison = &PoisonError{Event: rejected.event, Err: rejected.err}
				err = poison
			}
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.As(err, &poison):
			p.poisoned(ctx, poison)
			<-ctx.Done()
			return nil
		case errors.Is(err, ErrCheckpointMoved):
			p.log.Info("checkpoint moved under the projector; resuming from the stored one")
			backoff = p.opts.RetryMin
			continue
		case err != nil:
			p.setErr(err)
			p.log.Warn("projection failed; retrying", "err", err, "retry_in", backoff)
		}
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
		backoff = min(2*backoff, p.opts.RetryMax)
	}
	return nil
}

func (p *Projector) poisoned(ctx context.Context, poison *PoisonError) {
	d := DeadLetterOf(poison, p.opts.Now())
	for {
		err := p.dst.DeadLetter(ctx, d)
		if err == nil || ctx.Err() != nil {
			break
		}
		p.log.Error("recording dead letter failed; retrying", "err", err, "position", uint64(d.Position))
		select {
		case <-time.After(p.opts.RetryMax):
		case <-ctx.Done():
		}
	}
	// The operator alert: the projection is stopped until someone deploys a fix and restarts.
	p.log.Error("OPERATOR ALERT: read model projection stopped at an event it cannot apply",
		"stream", poison.Event.Stream, "revision", int64(poison.Event.Revision), "position", uint64(poison.Event.Position),
		"type", poison.Event.Type, "err", poison.Err, "alert", true)
	p.mu.Lock()
	p.status.Err, p.status.Poisoned = poison.Error(), true
	p.mu.Unlock()
	close(p.stopped)
}

func (p *Projector) setErr(err error) {
	p.mu.Lock()
	p.status.Err = err.Error()
	p.mu.Unlock()
}

func (p *Projector) setActive(active bool) {
	p.mu.Lock()
	p.status.Active = active
	p.mu.Unlock()
}

// project runs one follow from the stored checkpoint until it fails or ctx ends.
func (p *Projector) project(ctx context.Context) error {
	cp, err := p.dst.Checkpoint(ctx)
	if err != nil {
		return fmt.Errorf("read checkpoint: %w", err)
	}
	p.mu.Lock()
	p.status.Active, p.status.Checkpoint, p.status.Err = true, cp, ""
	p.mu.Unlock()
	p.log.Info("projecting", "from_position", uint64(cp))

	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := make(chan eventstore.RecordedEvent, p.opts.MaxBatch)
	followErr := make(chan error, 1)
	go func() {
		followErr <- p.src.Follow(fctx, cp, aggregate.StreamPrefix, func(ctx context.Context, e eventstore.RecordedEvent) error {
			select {
			case events <- e:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()
	batch := make([]eventstore.RecordedEvent, 0, p.opts.MaxBatch)
	for {
		batch = batch[:0]
		select {
		case e := <-events:
			batch = append(batch, e)
		case err := <-followErr:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("follow from %d: %w", cp, err)
		case <-ctx.Done():
			return ctx.Err()
		}
		limit := p.opts.MaxBatch
		if uint64(batch[0].Position) <= p.isolateUntil.Load() {
			limit = 1
		}
		deadline := time.NewTimer(p.opts.MaxWait)
	collect:
		for len(batch) < limit {
			select {
			case e := <-events:
				batch = append(batch, e)
			default:
				if len(events) == 0 {
					break collect // drained what is ready: commit now
				}
			}
			select {
			case <-deadline.C:
				break collect
			default:
			}
		}
		deadline.Stop()
		b, err := p.commit(ctx, cp, batch)
		if errors.Is(err, ErrRejected) {
			if len(batch) == 1 {
				return &rejection{event: batch[0], err: err}
			}
			p.isolateUntil.Store(uint64(batch[len(batch)-1].Position)) // find the event: one at a time
		}
		if err != nil {
			return fmt.Errorf("commit %d events after %d: %w", len(batch), cp, err)
		}
		cp = b.Checkpoint
		p.mu.Lock()
		p.status.Checkpoint = cp
		p.status.Applied += uint64(b.Applied)
		p.mu.Unlock()
		if b.Poison != nil {
			return b.Poison
		}
	}
}

// commit is Target.Commit, with a panic (a bug applying some event) turned into a rejection
// of the batch rather than a crash of the process.
func (p *Projector) commit(ctx context.Context, from eventstore.Position, events []eventstore.RecordedEvent) (b Batch, err error) {
	defer func() {
		if v := recover(); v != nil {
			b, err = Batch{}, fmt.Errorf("%w: panic: %v", ErrRejected, v)
		}
	}()
	return p.dst.Commit(ctx, from, events)
}
