package commands

import (
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
)

// Errors the service returns besides the aggregate's (aggregate.ErrNotFound, ErrExecuting,
// ErrExecutionMismatch, *aggregate.ValidationError …), which pass through wrapped.
var (
	// ErrIdempotencyKeyReused: the same Idempotency-Key came with a different request.
	ErrIdempotencyKeyReused = errors.New("idempotency key reused with a different request")
	// ErrPSPUnavailable: the PSP refused for a reason on our side (e.g. a bad API key); the
	// payment is untouched and can be confirmed again later.
	ErrPSPUnavailable = errors.New("payment provider unavailable")
	// ErrContention: the stream kept changing under us; the caller may retry.
	ErrContention = errors.New("payment is changing concurrently, retry")
)

// SchemaVersion of the metadata written with every event.
const SchemaVersion = 1

// Meta says why an event is being written: which request, and who asked.
type Meta struct {
	CorrelationID string // the HTTP request id
	Actor         string // e.g. "checkout-api"
	// commandID identifies one invocation of a service method; the service sets it.
	commandID string
}

// forCommand gives m a fresh command id: events this invocation decides get ids no other
// invocation can produce, while a retried append of the same events keeps them.
func (m Meta) forCommand() Meta {
	m.commandID = uuid.Must(uuid.NewV7()).String()
	return m
}

// EventMetadata is the JSON stored with every event.
type EventMetadata struct {
	CorrelationID string `json:"correlationId,omitempty"`
	CausationID   string `json:"causationId,omitempty"`
	CommandID     string `json:"commandId,omitempty"`
	Actor         string `json:"actor,omitempty"`
	SchemaVersion int    `json:"schemaVersion"`
	// PrevHash and Hash chain the stream (audit.Seal): the hash of the event before this
	// one (absent on the first, and on the first hashed event after pre-chain ones), and
	// this event's own over its type, data, this metadata without Hash, and revision.
	// storedEvent writes these fields in this order without json.Marshal (appendJSON): a
	// field added or moved here goes there too (FuzzEventMetadata compares the two).
	PrevHash string `json:"prevHash,omitempty"`
	Hash     string `json:"hash,omitempty"`
}

// Retry shapes the in-request retries of transient PSP answers: attempt n (from 0) waits a
// random duration in [0, min(Max, Base·2ⁿ)] ("full jitter") before the next try.
type Retry struct {
	Base, Max time.Duration
	// AttemptTimeout bounds one PSP call.
	AttemptTimeout time.Duration
}

// Config wires a Service. Store, PSP and Catalog are required.
type Config struct {
	Store   EventStore
	PSP     PSP
	Catalog Catalog
	Logger  *slog.Logger
	Now     func() time.Time // default time.Now
	// ConfirmTimeout bounds a confirm from ExecutionStarted to the recorded outcome,
	// retries included (default 15 s). It runs detached from the caller's context.
	ConfirmTimeout time.Duration
	// RecordTimeout bounds the final append of an outcome (default 5 s).
	RecordTimeout time.Duration
	Retry         Retry
	Recovery      aggregate.RecoveryPolicy
	// CheckoutTTL: a checkout not confirmed within this is expired (default
	// aggregate.DefaultCheckoutTTL).
	CheckoutTTL time.Duration
	// Limits bound a checkout's lines, quantities and total; zero fields take the
	// aggregate's defaults (aggregate.DefaultLimits).
	Limits aggregate.Limits
	// DepositSecretKey keys the hash under which a virtual account's secret (and a deposit
	// callback's) is stored. Keep it across restarts and instances, or stored secrets no
	// longer match; empty: a random key for this process only (specs).
	DepositSecretKey []byte
	// Observer is told how long confirms and PSP requests took (nil: nobody), e.g. for
	// latency histograms.
	Observer Observer
	// CachedPayments bounds how many payments' folded states are kept for the next command
	// (0: DefaultCachedPayments; negative: none).
	CachedPayments int
}

// Observer is told how long work took. Its methods must be safe for concurrent use and
// return at once: they run on the confirm's path.
type Observer interface {
	// Confirmed: a confirm that reached the PSP took d from its claim (ExecutionStarted) to
	// its recorded outcome (a status, or "ERROR" when the outcome was not recorded).
	Confirmed(outcome string, d time.Duration)
	// PSPRequested: one request to the PSP (operation "confirm", "cancel" or "lookup") was
	// answered after d with outcome (a status, "RETRY", "LOOKUP", "UNDECIDED" or "ERROR").
	PSPRequested(operation, outcome string, d time.Duration)
}

// noObserver is the Observer of a Config without one.
type noObserver struct{}

func (noObserver) Confirmed(string, time.Duration)            {}
func (noObserver) PSPRequested(string, string, time.Duration) {}

// pspOutcome names a PSP answer for an Observer.
func pspOutcome(a PSPAnswer) string {
	switch {
	case a.LookUp:
		return "LOOKUP"
	case a.Retry:
		return "RETRY"
	}
	return string(a.Verdict.Status)
}

// Service runs payment commands. Safe for concurrent use.
type Service struct {
	cfg    Config
	log    *slog.Logger
	sig    signals
	cached *paymentCache
}

// New returns a Service; zero durations in cfg take their defaults.
func New(cfg Config) *Service {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ConfirmTimeout <= 0 {
		cfg.ConfirmTimeout = 15 * time.Second
	}
	if cfg.RecordTimeout <= 0 {
		cfg.RecordTimeout = 5 * time.Second
	}
	if cfg.Retry.Base <= 0 {
		cfg.Retry.Base = 100 * time.Millisecond
	}
	if cfg.Retry.Max <= 0 {
		cfg.Retry.Max = 2 * time.Second
	}
	if cfg.Retry.AttemptTimeout <= 0 {
		cfg.Retry.AttemptTimeout = 5 * time.Second
	}
	cfg.Recovery = cfg.Recovery.WithDefaults()
	if cfg.CheckoutTTL <= 0 {
		cfg.CheckoutTTL = aggregate.DefaultCheckoutTTL
	}
	cfg.Limits = cfg.Limits.WithDefaults()
	if len(cfg.DepositSecretKey) == 0 {
		cfg.DepositSecretKey = randomKey()
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	if cfg.CachedPayments == 0 {
		cfg.CachedPayments = DefaultCachedPayments
	}
	return &Service{cfg: cfg, log: cfg.Logger, cached: newPaymentCache(cfg.CachedPayments)}
}

// Payment is a payment's state at a revision of its stream.
type Payment struct {
	aggregate.State
	Revision eventstore.Revision
	// Position is the store position of the payment's last event: a read model that has
	// applied it shows this state (read-your-writes across instances).
	Position eventstore.Position
	// head is the hash of the payment's last event ("" when none, or pre-chain): the next
	// event's PrevHash.
	head string
}

// with returns p after events were appended as res.
func (p Payment) with(events []aggregate.Event, res eventstore.AppendResult) Payment {
	for _, e := range events {
		p.State = aggregate.Evolve(p.State, e)
	}
	p.Revision, p.Position = res.Revision, res.Position
	return p
}
