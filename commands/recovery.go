package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/toss"
)

// Rules recovery records, next to the confirm rules in classify.go.
const (
	RuleLookupDone     = "toss.v1/lookup-done-matching"
	RuleLookupNotPaid  = "toss.v1/lookup-not-paid"
	RuleLookupMismatch = "toss.v1/lookup-done-mismatch"
	RuleLookupRefunded = "toss.v1/lookup-refunded"
)

// RecoveryPolicy says when an open payment is due and when recovery gives up.
type RecoveryPolicy struct {
	// ExecutingTimeout: an EXECUTING payment older than this is presumed abandoned (a crash
	// between the PSP call and the recorded outcome). Default 1 min.
	ExecutingTimeout time.Duration
	// Threshold: attempts before EscalatedToManual (the seed's 5). Default 5.
	Threshold int
	// Backoff before attempt n+1 is min(BackoffMax, BackoffBase·2ⁿ). Defaults 10 s and 10 min.
	BackoffBase, BackoffMax time.Duration
}

func (p RecoveryPolicy) withDefaults() RecoveryPolicy {
	if p.ExecutingTimeout <= 0 {
		p.ExecutingTimeout = time.Minute
	}
	if p.Threshold <= 0 {
		p.Threshold = 5
	}
	if p.BackoffBase <= 0 {
		p.BackoffBase = 10 * time.Second
	}
	if p.BackoffMax <= 0 {
		p.BackoffMax = 10 * time.Minute
	}
	return p
}

// backoff is the wait after attempt n (0 = before the first attempt: none).
func (p RecoveryPolicy) backoff(attempts int) time.Duration {
	if attempts == 0 {
		return 0
	}
	d := p.BackoffBase
	for i := 1; i < attempts && d < p.BackoffMax; i++ {
		d *= 2
	}
	return min(d, p.BackoffMax)
}

// RecoveryResult says what one Recover call did.
type RecoveryResult string

const (
	RecoveryNotDue    RecoveryResult = "not-due"   // backoff not elapsed, or nothing open
	RecoveryClaimed   RecoveryResult = "lost-race" // another worker claimed it first
	RecoverySettled   RecoveryResult = "settled"   // an outcome was recorded (may still be UNKNOWN)
	RecoveryEscalated RecoveryResult = "escalated" // threshold reached: handed to a person
)

// Recover settles one open payment (UNKNOWN, or EXECUTING past the timeout): it claims the
// payment by appending RecoveryAttempted at the exact revision (so concurrent workers never
// work one payment at once), looks the payment up at Toss by orderId, records what the
// lookup decides, and re-confirms with the payment's own idempotency key only when the
// lookup cannot decide. Past the threshold it escalates instead. Safe for concurrent use.
func (s *Service) Recover(ctx context.Context, orderID string, meta Meta) (RecoveryResult, Payment, error) {
	meta = meta.forCommand()
	p, err := s.Load(ctx, orderID)
	if err != nil {
		return "", Payment{}, err
	}
	now := s.cfg.Now().UTC()
	if p.Status == aggregate.StatusUnknown && now.Before(p.UpdatedAt.Add(s.cfg.Recovery.backoff(p.FailedCount))) {
		return RecoveryNotDue, p, nil
	}
	p, cause, escalated, err := s.claim(ctx, p, now, meta)
	switch {
	case errors.Is(err, aggregate.ErrExecuting), errors.Is(err, aggregate.ErrNotRecoverable), errors.Is(err, aggregate.ErrEscalated):
		return RecoveryNotDue, p, nil
	case errors.Is(err, eventstore.ErrConcurrency):
		return RecoveryClaimed, p, nil
	case err != nil:
		return "", p, err
	case escalated:
		s.sig.escalations.Add(1)
		s.sig.alert(now, "escalated "+orderID)
		s.log.Error("payment escalated to manual handling", "order_id", orderID, "attempts", p.FailedCount)
		return RecoveryEscalated, p, nil
	}
	s.sig.recoveryAttempts.Add(1)
	execCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ConfirmTimeout)
	defer cancel()
	v, decided := s.lookup(execCtx, p.State)
	if !decided {
		v = s.confirmAtPSP(execCtx, p.State)
	}
	recorded, err := s.record(execCtx, p, v, meta, cause)
	if err != nil {
		return "", p, err
	}
	s.noteVerdict(v)
	s.log.Info("recovery attempt recorded", "order_id", orderID, "attempt", recorded.FailedCount,
		"status", recorded.Status, "rule", v.Rule, "by_lookup", decided)
	return RecoverySettled, recorded, nil
}

// claimRecovery is the claim recovery makes at now under the recovery policy.
func (s *Service) claimRecovery(now time.Time) aggregate.ClaimRecovery {
	return aggregate.ClaimRecovery{ExecutingBefore: now.Add(-s.cfg.Recovery.ExecutingTimeout),
		Threshold: s.cfg.Recovery.Threshold, At: now}
}

// claim appends what ClaimRecovery decides for p at p's revision: RecoveryAttempted — the
// claim, so no other worker works the payment until an outcome is recorded — or, past the
// threshold, EscalatedToManual (escalated). cause is the appended event's id, the causation
// of what follows. Errors: the aggregate's (ErrExecuting, ErrNotRecoverable, ErrEscalated)
// and eventstore.ErrConcurrency when another claim or outcome got there first.
func (s *Service) claim(ctx context.Context, p Payment, now time.Time, meta Meta) (claimed Payment, cause string, escalated bool, err error) {
	events, err := aggregate.Decide(p.State, s.claimRecovery(now))
	if err != nil {
		return p, "", false, fmt.Errorf("claim %s: %w", p.OrderID, err)
	}
	stream := StreamName(p.OrderID)
	res, err := s.append(ctx, stream, p.Revision, events, meta, "")
	if err != nil {
		return p, "", false, err
	}
	_, escalated = events[0].(aggregate.EscalatedToManual)
	return p.with(events, res), eventID(stream, res.Revision, events[0].EventName(), meta.commandID).String(), escalated, nil
}

// lookup asks Toss for its record of the payment. decided is false when only a confirm can
// tell (no record, still IN_PROGRESS, or the lookup failed).
func (s *Service) lookup(ctx context.Context, st aggregate.State) (aggregate.Verdict, bool) {
	lookupCtx, cancel := context.WithTimeout(ctx, s.cfg.Retry.AttemptTimeout)
	defer cancel()
	pay, err := s.cfg.PSP.PaymentByOrderID(lookupCtx, st.OrderID)
	if err != nil {
		return aggregate.Verdict{}, false
	}
	return lookupVerdict(pay, st)
}

// lookupVerdict judges Toss's record of a payment we executed.
func lookupVerdict(pay toss.Payment, st aggregate.State) (aggregate.Verdict, bool) {
	switch pay.Status {
	case toss.StatusDone:
		v := verdictForPayment(pay, st, RuleLookupDone)
		if v.Status != aggregate.StatusSuccess {
			v.Rule = RuleLookupMismatch
		}
		return v, true
	case toss.StatusCanceled, toss.StatusPartialCanceled:
		// Captured, then refunded at Toss. Refunds are not events yet, and recording an
		// approval would book money the seller no longer has: a person decides.
		return aggregate.Verdict{Status: aggregate.StatusUnknown, Rule: RuleLookupRefunded, Code: string(pay.Status),
			Message:       "Toss's record says " + string(pay.Status) + "; refunds are not recorded by paystream",
			OperatorAlert: true, Evidence: redact(pay.Raw)}, true
	case toss.StatusAborted, toss.StatusExpired:
		return aggregate.Verdict{Status: aggregate.StatusFailure, Rule: RuleLookupNotPaid, Code: string(pay.Status),
			Message: "Toss's record says " + string(pay.Status), Evidence: redact(pay.Raw)}, true
	default:
		return aggregate.Verdict{}, false
	}
}

// pspOpinion is what Toss's record says about a payment, for checking a manual resolution.
func (s *Service) pspOpinion(ctx context.Context, st aggregate.State) (aggregate.Status, string, []byte) {
	lookupCtx, cancel := context.WithTimeout(ctx, s.cfg.Retry.AttemptTimeout)
	defer cancel()
	pay, err := s.cfg.PSP.PaymentByOrderID(lookupCtx, st.OrderID)
	var apiErr *toss.APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.Code == "NOT_FOUND_PAYMENT":
		return aggregate.StatusFailure, "NOT_FOUND_PAYMENT", redact(apiErr.Body)
	case err != nil:
		return aggregate.StatusUnknown, "lookup failed: " + err.Error(), nil
	}
	v, decided := lookupVerdict(pay, st)
	switch {
	case decided:
		return v.Status, string(pay.Status), v.Evidence
	default:
		// READY, IN_PROGRESS, WAITING_FOR_DEPOSIT…: nothing captured (yet), so a SUCCESS
		// would contradict the record.
		return aggregate.StatusFailure, string(pay.Status), redact(pay.Raw)
	}
}

// Resolution is an operator's manual settlement of a payment.
type Resolution struct {
	OrderID    string
	Resolution aggregate.Status // SUCCESS or FAILURE
	Actor      string
	Reason     string
	Force      bool // record it even if Toss's record contradicts it
}

// Resolve records an operator's resolution after checking it against Toss's record.
// Errors: aggregate.ErrContradictsPSP (unless forced), aggregate.ErrAlreadyResolved,
// aggregate.ErrNotRecoverable, *aggregate.ValidationError, aggregate.ErrNotFound.
func (s *Service) Resolve(ctx context.Context, r Resolution, meta Meta) (Payment, error) {
	p, err := s.Load(ctx, r.OrderID)
	if err != nil {
		return Payment{}, err
	}
	says, status, evidence := s.pspOpinion(ctx, p.State)
	defer s.sig.manualResolutions.Add(1)
	return s.decide(ctx, r.OrderID, meta.forCommand(), func(aggregate.State) aggregate.Command {
		return aggregate.Resolve{Resolution: r.Resolution, Actor: r.Actor, Reason: r.Reason, Force: r.Force,
			PspSays: says, PspStatus: status, Evidence: evidence, At: s.cfg.Now().UTC()}
	})
}

// Expire records that a checkout was never confirmed within the checkout TTL. Errors:
// aggregate.ErrNotRecoverable (it was sent to the PSP), *aggregate.ValidationError (still
// within its window), aggregate.ErrNotFound.
func (s *Service) Expire(ctx context.Context, orderID string, meta Meta) (Payment, error) {
	now := s.cfg.Now().UTC()
	return s.decide(ctx, orderID, meta.forCommand(), func(aggregate.State) aggregate.Command {
		return aggregate.Expire{Before: now.Add(-s.cfg.CheckoutTTL), At: now}
	})
}
