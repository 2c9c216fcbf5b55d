package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/toss"
)

// Class is what a mismatch needs.
type Class string

const (
	// AutoFixable: the reconciler fixes it with the command a person would use.
	AutoFixable Class = "auto-fixable"
	// NeedsPerson: money disagrees in a way only a person can settle.
	NeedsPerson Class = "needs-person"
	// Unclassifiable: Toss's record is of a shape the reconciler does not judge.
	Unclassifiable Class = "unclassifiable"
)

// Classes lists every class, in report order.
var Classes = []Class{AutoFixable, NeedsPerson, Unclassifiable}

// Kind is what disagrees.
type Kind string

const (
	CancelNotRecorded  Kind = "cancel-not-recorded"  // a cancel at Toss (its console, a card company) not on the stream: auto
	ApprovalNotSettled Kind = "approval-not-settled" // Toss approved, our payment is still open or waiting: auto
	RefundNotSettled   Kind = "refund-not-settled"   // Toss cancelled, our refund is still open: auto
	AmountDiffers      Kind = "amount-differs"       // both recorded it, for different amounts: person
	StatusDiffers      Kind = "status-differs"       // Toss moved money we recorded as failed (or never started): person
	ApprovalNotAtToss  Kind = "approval-not-at-toss" // we recorded an approval Toss does not list: person
	RefundNotAtToss    Kind = "refund-not-at-toss"   // we recorded a refund Toss does not list: person
	PaymentNotHere     Kind = "payment-not-here"     // Toss moved money for an order we have no stream of: person
	SettlementDiffers  Kind = "settlement-differs"   // a settlement's amount or figures disagree: person
	Unrecognised       Kind = "unrecognised"         // a transaction status or shape we do not judge: unclassifiable
)

// Toss is what the reconciler reads of Toss (*toss.Client). It uses Toss's own types:
// reconciliation is with Toss, its records are the evidence, and a second provider would
// come with its own reconciler.
type Toss interface {
	AllTransactions(ctx context.Context, start, end time.Time, limit int, page func(read int)) ([]toss.Transaction, error)
	AllSettlements(ctx context.Context, start, end time.Time, dateType toss.DateType, size int, page func(read int)) ([]toss.Settlement, error)
}

// Payments is what it needs of the application service (*commands.Service): the streams'
// truth, the commands a person would use to fix what can be fixed, and a place to record.
type Payments interface {
	Load(ctx context.Context, orderID string) (commands.Payment, error)
	RecordExternalRefunds(ctx context.Context, orderID, foundBy string, meta commands.Meta) (int, error)
	Recover(ctx context.Context, orderID string, meta commands.Meta) (commands.RecoveryResult, commands.Payment, error)
	Reconcile(ctx context.Context, orderID string, meta commands.Meta) (string, error)
	AppendRecords(ctx context.Context, stream string, expected eventstore.Revision, records []commands.Record, key string,
		meta commands.Meta) (eventstore.AppendResult, error)
}

// Streams reads the reconciliation streams (the event store).
type Streams interface {
	ReadStream(ctx context.Context, stream string) ([]eventstore.RecordedEvent, error)
}

// Directory lists the orderIds of payments created at from … to (to exclusive), a page at
// a time (the read models): cursor "" starts, next "" ends.
type Directory interface {
	Created(ctx context.Context, from, to time.Time, cursor string) (ids []string, next string, err error)
}

// Books is where settlements are booked: Toss's fees as an expense and what Toss owes the
// merchant as a receivable until the payout date. The reference ledger implements it
// (*ledger.Ledger, see doc.go); nil books nothing. BookSettlements must be idempotent by transaction key:
// every run of a period hands it the period's settlements again.
type Books interface {
	BookSettlements(ctx context.Context, runID string, settlements []SettlementRecorded) error
}

// Config wires a Reconciler. Toss, Payments, Streams and Directory are required.
type Config struct {
	Toss      Toss
	Payments  Payments
	Streams   Streams
	Directory Directory
	Books     Books
	Logger    *slog.Logger
	Now       func() time.Time // default time.Now
	// Lookback: payments created this long before a period are checked for refunds in it
	// (default 92 days).
	Lookback time.Duration
	// Margin: Toss's transactions this long either side of a period are read too, so that
	// an approval recorded a moment after midnight is not "unknown at Toss" (default 1 day).
	Margin time.Duration
	// Actor is the actor of the commands fixing mismatches (default "reconciler").
	Actor string
}

// Reconciler runs reconciliations. Safe for concurrent use; runs of one period are
// serialised by their run streams (the exact-revision claim), runs of different periods
// may overlap.
type Reconciler struct {
	cfg Config
	log *slog.Logger

	runs, fixed atomic.Int64
	mu          sync.Mutex
	found       map[Class]int64 // new mismatches, by class
}

// New returns a Reconciler.
func New(cfg Config) *Reconciler {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Lookback <= 0 {
		cfg.Lookback = 92 * 24 * time.Hour
	}
	if cfg.Margin <= 0 {
		cfg.Margin = 24 * time.Hour
	}
	if cfg.Actor == "" {
		cfg.Actor = "reconciler"
	}
	return &Reconciler{cfg: cfg, log: cfg.Logger.With("component", "reconciler"), found: map[Class]int64{}}
}

// Stats are a Reconciler's counts since it started.
type Stats struct {
	Runs  int64
	Fixed int64           // auto-fixable mismatches fixed
	New   map[Class]int64 // mismatches found for the first time, by class
}

// Stats returns the counts so far.
func (r *Reconciler) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Stats{Runs: r.runs.Load(), Fixed: r.fixed.Load(), New: map[Class]int64{}}
	for _, c := range Classes {
		s.New[c] = r.found[c]
	}
	return s
}

// Progress is how far a run has got: Phase is "transactions", "settlements", "payments",
// "fixes" or "recording"; Done of Of (Of 0: not known yet).
type Progress struct {
	Phase    string `json:"phase"`
	Done, Of int
}

// ErrBusy: another run of the period claimed the next run number at the same time, more
// times than is plausible.
var ErrBusy = errors.New("reconciliation of this period is running elsewhere")

// Run reconciles period: it reads Toss's transactions and settlements, matches them both
// ways against the payment streams, classifies each mismatch, fixes the auto-fixable ones
// through the service's commands (actor Config.Actor), records the run in its stream
// (StreamPrefix + period id + "-" + run number) and lists it in IndexStream. startedBy
// is who asked (an operator's key name, or "schedule"); progress, when set, is told how
// far the run has got. Re-running a period fixes nothing twice and reports what an earlier
// run found as not new. Errors: reading Toss or the store (the run is recorded as failed
// when it could be claimed), ErrBusy.
func (r *Reconciler) Run(ctx context.Context, period Period, startedBy string, progress func(Progress)) (Report, error) {
	if progress == nil {
		progress = func(Progress) {}
	}
	r.runs.Add(1)
	run, prev, err := r.claim(ctx, period, startedBy)
	if err != nil {
		return Report{}, err
	}
	rep, err := r.reconcile(ctx, run, prev, progress)
	if err != nil {
		r.log.Error("reconciliation failed", "period", period.ID(), "run", run.Run, "err", err)
		rep.Completed = RunCompleted{RunID: run.RunID, Failed: err.Error(), FinishedAt: r.cfg.Now().UTC()}
		if werr := r.record(context.WithoutCancel(ctx), run, rep, progress); werr != nil {
			err = errors.Join(err, werr)
		}
		return rep, err
	}
	if err := r.record(ctx, run, rep, progress); err != nil {
		return rep, err
	}
	r.count(rep)
	r.log.Info("reconciliation run recorded", "period", period.ID(), "run", run.Run, "transactions", rep.Completed.Transactions,
		"matched", rep.Completed.Matched, "new", rep.Completed.New, "fixed", rep.Completed.Fixed,
		"needs_person", rep.Completed.ByClass[NeedsPerson], "unclassifiable", rep.Completed.ByClass[Unclassifiable],
		"ties_out", rep.Completed.TiesOut)
	return rep, nil
}

func (r *Reconciler) count(rep Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range rep.Mismatches {
		if m.FirstFoundIn == rep.RunID {
			r.found[m.Class]++
		}
		if m.Fix != nil && m.Fix.Fixed {
			r.fixed.Add(1)
		}
	}
}

// claimed is a run that holds its stream.
type claimed struct {
	RunStarted
	stream string
}

// claim takes the next run number of period by creating its stream, and returns the
// latest completed run before it (nil: none).
func (r *Reconciler) claim(ctx context.Context, period Period, startedBy string) (claimed, *Report, error) {
	n := 1
	var prev *Report
	for {
		stream := runStream(period, n)
		rep, ok, err := r.readRun(ctx, stream)
		if err != nil {
			return claimed{}, nil, err
		}
		if !ok {
			break
		}
		if rep.Completed.RunID != "" && rep.Completed.Failed == "" {
			prev = &rep
		}
		n++
	}
	for range 8 {
		started := RunStarted{RunID: period.ID() + "-" + fmt.Sprint(n), Period: period, Run: n, Actor: startedBy,
			StartedAt: r.cfg.Now().UTC()}
		stream := runStream(period, n)
		if err := r.append(ctx, stream, eventstore.NoStream, started.RunID, started); err == nil {
			return claimed{RunStarted: started, stream: stream}, prev, nil
		} else if !errors.Is(err, eventstore.ErrConcurrency) {
			return claimed{}, nil, err
		}
		n++ // another run of the period claimed n first
	}
	return claimed{}, nil, ErrBusy
}

func runStream(p Period, n int) string { return fmt.Sprintf("%s%s-%d", StreamPrefix, p.ID(), n) }

// append records events after expected in stream, under the run's id.
func (r *Reconciler) append(ctx context.Context, stream string, expected eventstore.Revision, runID string, events ...Event) error {
	records := make([]commands.Record, len(events))
	for i, e := range events {
		name, data, err := Encode(e)
		if err != nil {
			return err
		}
		records[i] = commands.Record{Name: name, Data: data}
	}
	_, err := r.cfg.Payments.AppendRecords(ctx, stream, expected, records, runID,
		commands.Meta{CorrelationID: runID, Actor: r.cfg.Actor})
	return err
}

// maxEventsPerAppend bounds one append of a run's findings.
const maxEventsPerAppend = 500

// record writes a run's findings, settlements and completion after its RunStarted, and
// lists it in the index.
func (r *Reconciler) record(ctx context.Context, run claimed, rep Report, progress func(Progress)) error {
	var events []Event
	for _, m := range rep.Mismatches {
		events = append(events, m.MismatchFound)
	}
	for _, m := range rep.Mismatches {
		if m.Fix != nil {
			events = append(events, *m.Fix)
		}
	}
	for _, s := range rep.Settlements {
		events = append(events, s)
	}
	events = append(events, rep.Completed)
	rev := eventstore.Revision(0)
	for len(events) > 0 {
		n := min(maxEventsPerAppend, len(events))
		if err := r.append(ctx, run.stream, rev, run.RunID, events[:n]...); err != nil {
			return fmt.Errorf("record run %s: %w", run.RunID, err)
		}
		rev += eventstore.Revision(n)
		events = events[n:]
		progress(Progress{Phase: "recording", Done: int(rev), Of: int(rev) + len(events)})
	}
	listed := RunListed{RunID: run.RunID, Period: run.Period, Run: run.Run, Stream: run.stream, At: r.cfg.Now().UTC()}
	for range 8 {
		index, err := r.cfg.Streams.ReadStream(ctx, IndexStream)
		if err != nil {
			return fmt.Errorf("read %s: %w", IndexStream, err)
		}
		expected := eventstore.NoStream
		if n := len(index); n > 0 {
			expected = index[n-1].Revision
		}
		err = r.append(ctx, IndexStream, expected, run.RunID, listed)
		if !errors.Is(err, eventstore.ErrConcurrency) {
			return err
		}
	}
	return fmt.Errorf("list run %s: %w", run.RunID, ErrBusy)
}

// Report is one run as recorded: what it found (with what was done about it) and the
// settlements Toss reported.
type Report struct {
	RunID       string               `json:"runId"`
	Stream      string               `json:"stream"`
	Period      Period               `json:"period"`
	Run         int                  `json:"run"`
	StartedBy   string               `json:"startedBy"`
	StartedAt   time.Time            `json:"startedAt"`
	Mismatches  []Mismatch           `json:"mismatches"`
	Settlements []SettlementRecorded `json:"settlements"`
	Completed   RunCompleted         `json:"completed"`
}

// Mismatch is a mismatch as a run found it, with its fix if one was tried.
type Mismatch struct {
	MismatchFound
	Fix    *MismatchFixed `json:"fix,omitempty"`
	RunID  string         `json:"runId"`
	Period Period         `json:"period"`
}

// Open reports whether the mismatch still stands after its run: anything but an
// auto-fixable one that was fixed.
func (m Mismatch) Open() bool { return m.Fix == nil || !m.Fix.Fixed }

// NeedsAttention counts the run's open mismatches a person must look at: needs-person and
// unclassifiable ones, and auto-fixable ones whose fix did not take.
func (rep Report) NeedsAttention() int {
	n := 0
	for _, m := range rep.Mismatches {
		if m.Open() {
			n++
		}
	}
	return n
}

// readRun folds a run's stream; ok is false when it does not exist.
func (r *Reconciler) readRun(ctx context.Context, stream string) (Report, bool, error) {
	recorded, err := r.cfg.Streams.ReadStream(ctx, stream)
	if err != nil {
		return Report{}, false, fmt.Errorf("read %s: %w", stream, err)
	}
	if len(recorded) == 0 {
		return Report{}, false, nil
	}
	rep := Report{Stream: stream, Mismatches: []Mismatch{}, Settlements: []SettlementRecorded{}}
	fixes := map[string]MismatchFixed{}
	for _, e := range recorded {
		ev, err := Decode(e.Type, e.Data)
		if err != nil {
			return Report{}, false, fmt.Errorf("%s at %d: %w", stream, e.Revision, err)
		}
		switch ev := ev.(type) {
		case RunStarted:
			rep.RunID, rep.Period, rep.Run, rep.StartedBy, rep.StartedAt = ev.RunID, ev.Period, ev.Run, ev.Actor, ev.StartedAt
		case MismatchFound:
			rep.Mismatches = append(rep.Mismatches, Mismatch{MismatchFound: ev})
		case MismatchFixed:
			fixes[ev.ID] = ev
		case SettlementRecorded:
			rep.Settlements = append(rep.Settlements, ev)
		case RunCompleted:
			rep.Completed = ev
		}
	}
	for i := range rep.Mismatches {
		m := &rep.Mismatches[i]
		m.RunID, m.Period = rep.RunID, rep.Period
		if f, ok := fixes[m.ID]; ok {
			m.Fix = &f
		}
	}
	return rep, true, nil
}

// Latest returns the latest finished run of period. Errors: ErrNoRun, or the store's.
func (r *Reconciler) Latest(ctx context.Context, period Period) (Report, error) {
	var latest *Report
	for n := 1; ; n++ {
		rep, ok, err := r.readRun(ctx, runStream(period, n))
		if err != nil {
			return Report{}, err
		}
		if !ok {
			break
		}
		if rep.Completed.RunID != "" {
			latest = &rep
		}
	}
	if latest == nil {
		return Report{}, fmt.Errorf("period %s: %w", period.ID(), ErrNoRun)
	}
	return *latest, nil
}

// ErrNoRun: the period has no finished run.
var ErrNoRun = errors.New("no reconciliation run")

// Open returns the mismatches the latest finished run of each period left open, periods in
// the order they were first reconciled.
func (r *Reconciler) Open(ctx context.Context) ([]Mismatch, error) {
	index, err := r.cfg.Streams.ReadStream(ctx, IndexStream)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", IndexStream, err)
	}
	var periods []Period
	for _, e := range index {
		ev, err := Decode(e.Type, e.Data)
		if err != nil {
			return nil, fmt.Errorf("%s at %d: %w", IndexStream, e.Revision, err)
		}
		if l, ok := ev.(RunListed); ok && !slices.Contains(periods, l.Period) {
			periods = append(periods, l.Period)
		}
	}
	open := []Mismatch{}
	for _, p := range periods {
		rep, err := r.Latest(ctx, p)
		if err != nil {
			return nil, err
		}
		for _, m := range rep.Mismatches {
			if m.Open() {
				open = append(open, m)
			}
		}
	}
	return open, nil
}

// sumOrZero adds up amounts.
func sum(ds ...decimal.Decimal) decimal.Decimal {
	t := decimal.Zero
	for _, d := range ds {
		t = t.Add(d)
	}
	return t
}

// approvedIn reports whether p's approval falls in [start, end).
func approvedIn(p aggregate.State, start, end time.Time) bool {
	return p.Status.Approved() && p.ApprovedAt != nil && !p.ApprovedAt.Before(start) && p.ApprovedAt.Before(end)
}
