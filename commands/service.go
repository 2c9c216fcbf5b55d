package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/toss"
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

// StreamPrefix starts every payment stream's name.
const StreamPrefix = "payment-"

// StreamName is the event stream of the payment with this orderId.
func StreamName(orderID string) string { return StreamPrefix + orderID }

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
	Recovery      RecoveryPolicy
	// CheckoutTTL: a checkout not confirmed within this is expired (default 40 min: Toss
	// expires an unauthenticated payment after 30 min and an authenticated one 10 min later).
	CheckoutTTL time.Duration
	// Limits bound a checkout's lines, quantities and total; zero fields take the
	// aggregate's defaults (aggregate.DefaultLimits).
	Limits aggregate.Limits
}

// Service runs payment commands. Safe for concurrent use.
type Service struct {
	cfg Config
	log *slog.Logger
	sig signals
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
	cfg.Recovery = cfg.Recovery.withDefaults()
	if cfg.CheckoutTTL <= 0 {
		cfg.CheckoutTTL = 40 * time.Minute
	}
	cfg.Limits = cfg.Limits.WithDefaults()
	return &Service{cfg: cfg, log: cfg.Logger}
}

// Payment is a payment's state at a revision of its stream.
type Payment struct {
	aggregate.State
	Revision eventstore.Revision
	// Position is the store position of the payment's last event: a read model that has
	// applied it shows this state (read-your-writes across instances).
	Position eventstore.Position
}

// with returns p after events were appended as res.
func (p Payment) with(events []aggregate.Event, res eventstore.AppendResult) Payment {
	for _, e := range events {
		p.State = aggregate.Evolve(p.State, e)
	}
	p.Revision, p.Position = res.Revision, res.Position
	return p
}

// CheckoutRequest asks for a new payment.
type CheckoutRequest struct {
	BuyerID string
	Items   []Item
	// IdempotencyKey, when set, makes the checkout repeatable: the orderId is derived from
	// it, so a retry finds the payment the first request created.
	IdempotencyKey string
}

// Item is one product line of a checkout.
type Item struct {
	ProductID string `json:"productId"`
	Quantity  int64  `json:"quantity"`
}

// Checkout prices the items from the catalog and records CheckoutCreated. A retry with the
// same Idempotency-Key returns the payment the first created; the same key with another
// request fails with ErrIdempotencyKeyReused. Items beyond Config.Limits (too many lines, a
// quantity or a total too large) fail with a *aggregate.ValidationError naming the field.
func (s *Service) Checkout(ctx context.Context, req CheckoutRequest, meta Meta) (Payment, error) {
	meta = meta.forCommand()
	// Bound the request before pricing it: no catalog lookup for line 10⁶, no product of an
	// unbounded quantity. Decide checks the same limits again on the priced lines.
	quantities := make([]int64, len(req.Items))
	for i, it := range req.Items {
		quantities[i] = it.Quantity
	}
	if err := s.cfg.Limits.CheckQuantities(quantities); err != nil {
		return Payment{}, err
	}
	hash := fingerprint(req.BuyerID, req.Items)
	orderID := newOrderID()
	if req.IdempotencyKey != "" {
		orderID = orderIDForKey(req.IdempotencyKey)
	}
	lines := make([]aggregate.OrderLine, len(req.Items))
	var names []string
	for i, it := range req.Items {
		p, ok := s.cfg.Catalog.Product(it.ProductID)
		if !ok {
			return Payment{}, &aggregate.ValidationError{Field: fmt.Sprintf("items[%d].productId", i),
				Message: fmt.Sprintf("unknown product %q", it.ProductID)}
		}
		lines[i] = aggregate.OrderLine{ProductID: p.ID, SellerID: p.SellerID, Quantity: it.Quantity,
			UnitPrice: p.Price, Amount: p.Price.Mul(decimal.NewFromInt(it.Quantity))}
		names = append(names, p.Name)
	}
	cmd := aggregate.CreateCheckout{OrderID: orderID, OrderName: orderName(names), BuyerID: req.BuyerID,
		Lines: lines, RequestHash: hash, At: s.cfg.Now().UTC(), Limits: s.cfg.Limits}
	events, err := aggregate.Decide(aggregate.State{}, cmd)
	if err != nil {
		return Payment{}, err
	}
	if err := s.claimKey(ctx, req.IdempotencyKey, KeyClaimed{Operation: "checkout", OrderID: orderID, RequestHash: hash}, meta); err != nil {
		return Payment{}, err
	}
	stream := StreamName(orderID)
	res, err := s.append(ctx, stream, eventstore.NoStream, events, meta, "")
	if errors.Is(err, eventstore.ErrConcurrency) && req.IdempotencyKey != "" {
		p, lerr := s.Load(ctx, orderID)
		if lerr != nil {
			return Payment{}, lerr
		}
		if p.CheckoutRequestHash != hash {
			return Payment{}, ErrIdempotencyKeyReused
		}
		return p, nil
	}
	if err != nil {
		return Payment{}, err
	}
	return Payment{State: aggregate.Fold(events), Revision: res.Revision, Position: res.Position}, nil
}

// ConfirmRequest is the buyer's authorised payment, as Toss's widget handed it back.
type ConfirmRequest struct {
	OrderID        string
	PaymentKey     string
	Amount         decimal.Decimal
	IdempotencyKey string
}

// maxContentionRetries bounds reload-and-decide loops on concurrent appends.
const maxContentionRetries = 8

// Confirm executes the payment at the PSP once and records the outcome; see the package
// comment. It returns the payment as recorded: SUCCESS, FAILURE, UNKNOWN, or NOT_STARTED
// together with ErrPSPUnavailable. Errors: aggregate.ErrNotFound, aggregate.ErrExecuting
// (another confirm is running), aggregate.ErrExecutionMismatch, *aggregate.ValidationError,
// ErrIdempotencyKeyReused, ErrContention.
func (s *Service) Confirm(ctx context.Context, req ConfirmRequest, meta Meta) (Payment, error) {
	meta = meta.forCommand()
	hash := fingerprint(req.OrderID, req.PaymentKey, req.Amount.String())
	claimed := false
	for range maxContentionRetries {
		p, err := s.Load(ctx, req.OrderID)
		if err != nil {
			return Payment{}, err
		}
		if !claimed { // once the payment is known to exist: a key names a request, not a typo
			if err := s.claimKey(ctx, req.IdempotencyKey, KeyClaimed{Operation: "confirm", OrderID: req.OrderID, RequestHash: hash}, meta); err != nil {
				return Payment{}, err
			}
			claimed = true
		}
		if req.IdempotencyKey != "" && p.ConfirmRequestKey == req.IdempotencyKey && p.ConfirmRequestHash != hash {
			return Payment{}, ErrIdempotencyKeyReused
		}
		if !p.Expired && p.Status == aggregate.StatusNotStarted && p.Executions == 0 &&
			p.CreatedAt.Before(s.cfg.Now().Add(-s.cfg.CheckoutTTL)) {
			if _, err := s.Expire(ctx, req.OrderID, meta); err != nil && !errors.Is(err, aggregate.ErrNotRecoverable) {
				return Payment{}, err
			}
			continue // reload: expired now, or executed by someone else meanwhile
		}
		if p.Expired {
			return Payment{}, fmt.Errorf("confirm %s: %w", req.OrderID, aggregate.ErrExpired)
		}
		if p.Status.Terminal() {
			return p, nil // answered as recorded: confirm is idempotent
		}
		events, err := aggregate.Decide(p.State, aggregate.StartExecution{
			PaymentKey: req.PaymentKey, Amount: req.Amount, PspIdempotencyKey: pspIdempotencyKey(req.OrderID),
			RequestKey: req.IdempotencyKey, RequestHash: hash, At: s.cfg.Now().UTC(),
		})
		if err != nil {
			return Payment{}, fmt.Errorf("confirm %s: %w", req.OrderID, err)
		}
		res, err := s.append(ctx, StreamName(req.OrderID), p.Revision, events, meta, "")
		if errors.Is(err, eventstore.ErrConcurrency) {
			continue // someone else moved first: look again
		}
		if err != nil {
			return Payment{}, err
		}
		p = p.with(events, res)
		if _, rejected := events[0].(aggregate.ConfirmRejected); rejected {
			return p, nil
		}
		// From here the PSP may charge: finish even if the caller goes away.
		execCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ConfirmTimeout)
		defer cancel()
		cause := eventID(StreamName(req.OrderID), res.Revision, events[0].EventName(), meta.commandID).String()
		return s.execute(execCtx, p, meta, cause)
	}
	return Payment{}, fmt.Errorf("confirm %s: %w", req.OrderID, ErrContention)
}

// execute calls the PSP for an EXECUTING payment and records the verdict.
func (s *Service) execute(ctx context.Context, p Payment, meta Meta, causation string) (Payment, error) {
	v := s.confirmAtPSP(ctx, p.State)
	log := s.log.With("order_id", p.OrderID, "rule", v.Rule, "status", v.Status)
	recorded, err := s.record(ctx, p, v, meta, causation)
	if err != nil {
		log.Error("outcome not recorded; payment left EXECUTING for recovery", "err", err)
		return Payment{}, err
	}
	s.noteVerdict(v)
	if recorded.Status == aggregate.StatusNotStarted {
		return recorded, fmt.Errorf("confirm %s: %s: %w", p.OrderID, v.Code, ErrPSPUnavailable)
	}
	return recorded, nil
}

// noteVerdict counts a recorded verdict and raises the operator alert it carries.
func (s *Service) noteVerdict(v aggregate.Verdict) {
	s.sig.outcome(v.Status)
	if v.OperatorAlert {
		s.sig.alert(s.cfg.Now(), v.Rule+" "+v.Code)
		s.log.Error("PSP outcome needs an operator", "rule", v.Rule, "code", v.Code, "message", v.Message)
	}
}

// confirmAtPSP asks Toss to confirm, retrying transient answers with backoff and full jitter
// while the context allows, and classifies the last answer.
func (s *Service) confirmAtPSP(ctx context.Context, st aggregate.State) aggregate.Verdict {
	req := toss.ConfirmRequest{PaymentKey: st.PaymentKey, OrderID: st.OrderID, Amount: st.ConfirmedAmount}
	ambiguous := false // an earlier attempt may have executed
	for attempt := 0; ; attempt++ {
		attemptCtx, cancel := context.WithTimeout(ctx, s.cfg.Retry.AttemptTimeout)
		pay, err := s.cfg.PSP.Confirm(attemptCtx, req, st.PspIdempotencyKey)
		cancel()
		v, transient, needLookup := verdictFor(pay, err, st)
		if needLookup {
			return s.lookupVerdict(ctx, st, v)
		}
		if v.Status == aggregate.StatusNotStarted && ambiguous {
			// A config fault now says nothing about what an earlier timed-out attempt did.
			v.Status = aggregate.StatusUnknown
		}
		if !transient {
			return v
		}
		ambiguous = true
		wait := fullJitter(s.cfg.Retry.Base, s.cfg.Retry.Max, attempt)
		// An attempt needs a quarter of what one may take, or it is not worth starting.
		worthwhile := min(s.cfg.Retry.AttemptTimeout, s.cfg.ConfirmTimeout) / 4
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait+worthwhile {
			return v // no time left for a meaningful attempt: recovery takes over
		}
		s.log.Warn("transient PSP answer, retrying", "order_id", st.OrderID, "attempt", attempt+1,
			"rule", v.Rule, "code", v.Code, "wait", wait)
		select {
		case <-ctx.Done():
			return v
		case <-time.After(wait):
		}
	}
}

// lookupVerdict decides an ambiguous answer by looking the payment up by orderId.
func (s *Service) lookupVerdict(ctx context.Context, st aggregate.State, ambiguous aggregate.Verdict) aggregate.Verdict {
	lookupCtx, cancel := context.WithTimeout(ctx, s.cfg.Retry.AttemptTimeout)
	defer cancel()
	pay, err := s.cfg.PSP.PaymentByOrderID(lookupCtx, st.OrderID)
	if err != nil {
		ambiguous.Message += "; lookup failed: " + err.Error()
		return ambiguous
	}
	v := verdictForPayment(pay, st, RuleAlreadyProcessed)
	if v.Status != aggregate.StatusSuccess {
		v.Code = ambiguous.Code
	}
	return v
}

// record appends the verdict under its own timeout, detached from the caller.
func (s *Service) record(ctx context.Context, p Payment, v aggregate.Verdict, meta Meta, causation string) (Payment, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RecordTimeout)
	defer cancel()
	for range maxContentionRetries {
		events, err := aggregate.Decide(p.State, aggregate.RecordPspOutcome{Verdict: v, At: s.cfg.Now().UTC()})
		if errors.Is(err, aggregate.ErrNotExecuting) {
			return p, nil // someone (recovery, an operator) already recorded an outcome
		}
		if err != nil {
			return Payment{}, fmt.Errorf("record outcome of %s: %w", p.OrderID, err)
		}
		res, err := s.append(ctx, StreamName(p.OrderID), p.Revision, events, meta, causation)
		if err == nil {
			return p.with(events, res), nil
		}
		if !errors.Is(err, eventstore.ErrConcurrency) {
			return Payment{}, err
		}
		if p, err = s.Load(ctx, p.OrderID); err != nil {
			return Payment{}, err
		}
	}
	return Payment{}, fmt.Errorf("record outcome of %s: %w", p.OrderID, ErrContention)
}

// Load folds the payment's stream. Unknown orderId → aggregate.ErrNotFound.
func (s *Service) Load(ctx context.Context, orderID string) (Payment, error) {
	recorded, err := s.cfg.Store.ReadStream(ctx, StreamName(orderID))
	if err != nil {
		return Payment{}, fmt.Errorf("load %s: %w", orderID, err)
	}
	if len(recorded) == 0 {
		return Payment{}, fmt.Errorf("load %s: %w", orderID, aggregate.ErrNotFound)
	}
	var st aggregate.State
	for _, r := range recorded {
		e, err := aggregate.Decode(r.Type, r.Data)
		if err != nil {
			return Payment{}, fmt.Errorf("load %s at revision %d: %w", orderID, r.Revision, err)
		}
		st = aggregate.Evolve(st, e)
	}
	last := recorded[len(recorded)-1]
	return Payment{State: st, Revision: last.Revision, Position: last.Position}, nil
}

// History returns the payment's recorded events in order. Unknown orderId →
// aggregate.ErrNotFound.
func (s *Service) History(ctx context.Context, orderID string) ([]eventstore.RecordedEvent, error) {
	recorded, err := s.cfg.Store.ReadStream(ctx, StreamName(orderID))
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", orderID, err)
	}
	if len(recorded) == 0 {
		return nil, fmt.Errorf("history %s: %w", orderID, aggregate.ErrNotFound)
	}
	return recorded, nil
}

// append encodes events with deterministic ids and metadata and appends them after expected.
func (s *Service) append(ctx context.Context, stream string, expected eventstore.Revision, events []aggregate.Event,
	meta Meta, causation string) (eventstore.AppendResult, error) {
	out := make([]eventstore.Event, len(events))
	for i, e := range events {
		name, data, err := aggregate.Encode(e)
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		if out[i], err = storedEvent(stream, expected+eventstore.Revision(i)+1, name, data, meta, causation); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	res, err := s.cfg.Store.Append(ctx, stream, expected, out)
	if err != nil {
		return res, fmt.Errorf("append %s at %d: %w", stream, expected, err)
	}
	return res, nil
}

// storedEvent is an encoded event as the store takes it: its deterministic id, and the
// metadata every event carries (causation defaults to the correlation id).
func storedEvent(stream string, revision eventstore.Revision, name string, data []byte, meta Meta, causation string) (eventstore.Event, error) {
	if causation == "" {
		causation = meta.CorrelationID
	}
	md, err := json.Marshal(EventMetadata{CorrelationID: meta.CorrelationID, CausationID: causation,
		CommandID: meta.commandID, Actor: meta.Actor, SchemaVersion: SchemaVersion})
	if err != nil {
		return eventstore.Event{}, err
	}
	return eventstore.Event{ID: eventID(stream, revision, name, meta.commandID), Type: name, Data: data, Metadata: md}, nil
}

// eventNamespace scopes paystream's deterministic event ids.
var eventNamespace = uuid.MustParse("6f1c9a52-3b0e-4d7a-9c41-8e2f5d0b7a13")

// eventID is the id of the event a command decided at this revision of the stream. The same
// decision always gets the same id, so the store recognises a retried append as a no-op; the
// command id keeps two concurrent commands that decide alike (two confirms of one payment)
// from both looking like that retry — one must fail with ErrConcurrency.
func eventID(stream string, revision eventstore.Revision, name, commandID string) uuid.UUID {
	return uuid.NewSHA1(eventNamespace, []byte(stream+"@"+strconv.FormatInt(int64(revision), 10)+"/"+name+"/"+commandID))
}

// pspIdempotencyKey is the Idempotency-Key for every confirm of one order: stable across
// retries, restarts and recovery, so Toss executes the payment at most once.
func pspIdempotencyKey(orderID string) string { return "confirm-" + orderID }

// orderIDForKey derives a Toss-valid orderId (44 chars) from a client's Idempotency-Key.
func orderIDForKey(key string) string {
	sum := sha256.Sum256([]byte("checkout\x00" + key))
	return "ord_" + hex.EncodeToString(sum[:20])
}

// newOrderID returns a fresh, time-ordered, Toss-valid orderId (36 chars).
func newOrderID() string {
	return "ord_" + strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", "")
}

// orderName follows Toss's convention: the first product, then "외 N건" for the rest.
func orderName(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	default:
		return fmt.Sprintf("%s 외 %d건", names[0], len(names)-1)
	}
}

// fingerprint hashes a request's meaningful fields, to tell a retry from a different request.
func fingerprint(parts ...any) string {
	data, _ := json.Marshal(parts)
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:16])
}

func fullJitter(base, max time.Duration, attempt int) time.Duration {
	ceiling := max
	if attempt < 30 && base<<attempt < max {
		ceiling = base << attempt
	}
	return rand.N(ceiling + 1)
}
