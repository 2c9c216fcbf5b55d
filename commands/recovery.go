package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
)

// RecoveryResult says what one Recover call did.
type RecoveryResult string

const (
	RecoveryNotDue           RecoveryResult = "not-due"           // backoff not elapsed, or nothing open
	RecoveryClaimedElsewhere RecoveryResult = "claimed-elsewhere" // another worker claimed it first
	RecoverySettled          RecoveryResult = "settled"           // an outcome was recorded (may still be UNKNOWN)
	RecoveryEscalated        RecoveryResult = "escalated"         // threshold reached: handed to a person
)

// Recover settles one open payment (UNKNOWN, or EXECUTING past the timeout): it claims the
// payment by appending RecoveryAttempted at the exact revision (so concurrent workers never
// work one payment at once), looks the payment up at the PSP by orderId, records what the
// lookup decides, and re-confirms with the payment's own idempotency key only when the
// lookup cannot decide. Past the threshold it escalates instead. Safe for concurrent use.
func (s *Service) Recover(ctx context.Context, orderID string, meta Meta) (RecoveryResult, Payment, error) {
	meta = meta.forCommand()
	p, err := s.Load(ctx, orderID)
	if err != nil {
		return "", Payment{}, err
	}
	now := s.cfg.Now().UTC()
	switch {
	case !p.DueForRecovery(now, s.cfg.Recovery):
		return RecoveryNotDue, p, nil
	case !p.OutcomeOpen(now.Add(-s.cfg.Recovery.ExecutingTimeout)):
		return s.recoverRefund(ctx, p, now, meta)
	}
	claimed, err := s.claim(ctx, p, now, meta)
	if res, done := s.claimResult(err); done {
		return res, p, nil
	} else if err != nil {
		return "", p, err
	}
	if claimed.Escalated {
		s.escalated(now, orderID, "payment", claimed.FailedCount)
		return RecoveryEscalated, claimed.Payment, nil
	}
	s.sig.recoveryAttempts.Add(1)
	execCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ConfirmTimeout)
	defer cancel()
	rec := s.lookup(execCtx, claimed.State)
	v := rec.Verdict
	if !rec.Decided {
		v = s.confirmAtPSP(execCtx, claimed.State)
	}
	recorded, err := s.record(execCtx, claimed.Payment, v, meta, claimed.cause)
	if err != nil {
		return "", claimed.Payment, err
	}
	s.log.Info("recovery attempt recorded", "order_id", orderID, "attempt", recorded.FailedCount,
		"status", recorded.Status, "rule", v.Rule, "by_lookup", rec.Decided)
	return RecoverySettled, recorded, nil
}

// claimResult is what a claim that did not go through means for Recover: done is false when
// the claim was made (err nil) or failed for a reason the caller returns (err non-nil).
func (s *Service) claimResult(err error) (res RecoveryResult, done bool) {
	switch {
	case errors.Is(err, aggregate.ErrExecuting), errors.Is(err, aggregate.ErrNotRecoverable), errors.Is(err, aggregate.ErrEscalated):
		return RecoveryNotDue, true
	case errors.Is(err, eventstore.ErrConcurrency):
		return RecoveryClaimedElsewhere, true
	}
	return "", false
}

// escalated raises the alert for a payment (or its refund) handed to a person.
func (s *Service) escalated(now time.Time, orderID, what string, attempts int) {
	s.sig.escalations.Add(1)
	s.sig.alert(now, "escalated "+what+" "+orderID)
	s.log.Error(what+" escalated to manual handling", "order_id", orderID, "attempts", attempts)
}

// claim appends what ClaimRecovery decides for p at p's revision: RecoveryAttempted — the
// claim, so no other worker works the payment until an outcome is recorded — or, past the
// threshold, EscalatedToManual. It is a single round: losing the race is an answer, not a
// reason to try again. Errors: the aggregate's (ErrExecuting, ErrNotRecoverable,
// ErrEscalated) and eventstore.ErrConcurrency when another claim or outcome got there first.
func (s *Service) claim(ctx context.Context, p Payment, now time.Time, meta Meta) (updated, error) {
	u, err := s.updateOnce(ctx, p.OrderID, &p, meta, "", func(p Payment) ([]aggregate.Event, error) {
		return aggregate.Decide(p.State, aggregate.ClaimRecovery{ExecutingBefore: now.Add(-s.cfg.Recovery.ExecutingTimeout),
			Threshold: s.cfg.Recovery.Threshold, At: now})
	})
	if err != nil {
		return u, fmt.Errorf("claim: %w", err)
	}
	return u, nil
}
