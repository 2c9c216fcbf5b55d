package aggregate

import (
	"strings"
	"time"
)

// The rules every part of paystream asks about a payment — which stream holds it, whether
// recovery may work it, when its checkout expires — live here, once. Recovery, webhooks,
// operators, the memory read model and the decider use these; the PostgreSQL read model's
// SQL is pinned to them by its conformance suite.

// StreamPrefix starts the name of every payment's stream.
const StreamPrefix = "payment-"

// StreamName is the event stream of the payment with this orderId.
func StreamName(orderID string) string { return StreamPrefix + orderID }

// OrderIDOf is the orderId of a payment stream; false for any other stream.
func OrderIDOf(stream string) (string, bool) {
	id, ok := strings.CutPrefix(stream, StreamPrefix)
	return id, ok && id != ""
}

// DefaultCheckoutTTL: a checkout not confirmed within this is expired — Toss expires an
// unauthenticated payment after 30 minutes and an authenticated one 10 minutes later.
const DefaultCheckoutTTL = 40 * time.Minute

// RecoveryPolicy says when an open payment is due for recovery and when recovery gives up.
type RecoveryPolicy struct {
	// ExecutingTimeout: an EXECUTING payment older than this is presumed abandoned (a crash
	// between the PSP call and the recorded outcome). Default 1 min.
	ExecutingTimeout time.Duration
	// Threshold: attempts before EscalatedToManual (the seed's 5). Default 5.
	Threshold int
	// Backoff before attempt n+1 is min(BackoffMax, BackoffBase·2ⁿ⁻¹). Defaults 10 s and 10 min.
	BackoffBase, BackoffMax time.Duration
}

// WithDefaults fills zero fields with the defaults.
func (p RecoveryPolicy) WithDefaults() RecoveryPolicy {
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

// Backoff is the wait after attempt n (0 = before the first attempt: none).
func (p RecoveryPolicy) Backoff(attempts int) time.Duration {
	if attempts == 0 {
		return 0
	}
	d := p.BackoffBase
	for i := 1; i < attempts && d < p.BackoffMax; i++ {
		d *= 2
	}
	return min(d, p.BackoffMax)
}

// Open reports whether something of the payment is open for recovery: its outcome
// (OutcomeOpen) or its open refund's (RefundOpen).
func (s State) Open(executingBefore time.Time) bool {
	return s.OutcomeOpen(executingBefore) || s.RefundOpen(executingBefore)
}

// OutcomeOpen reports whether the payment's outcome is open for recovery: UNKNOWN, or
// EXECUTING since before executingBefore (presumed abandoned), and not escalated to a person.
func (s State) OutcomeOpen(executingBefore time.Time) bool {
	switch {
	case !s.Exists() || s.Escalated:
		return false
	case s.Status == StatusUnknown:
		return true
	default:
		return s.Status == StatusExecuting && s.ExecutionStartedAt.Before(executingBefore)
	}
}

// RefundOpen reports whether the payment's open refund is open for recovery: UNKNOWN, or
// EXECUTING since before executingBefore, and not escalated.
func (s State) RefundOpen(executingBefore time.Time) bool {
	r, ok := s.OpenRefund()
	return ok && !r.Escalated && (r.Status == StatusUnknown || r.UpdatedAt.Before(executingBefore))
}

// DueForRecovery reports whether recovery should work the payment at now: something of it is
// open and the backoff after its last attempt has passed.
func (s State) DueForRecovery(now time.Time, p RecoveryPolicy) bool {
	cutoff := now.Add(-p.ExecutingTimeout)
	if s.OutcomeOpen(cutoff) {
		return s.Status != StatusUnknown || !now.Before(s.UpdatedAt.Add(p.Backoff(s.FailedCount)))
	}
	if s.RefundOpen(cutoff) {
		r, _ := s.OpenRefund()
		return r.Status != StatusUnknown || !now.Before(r.UpdatedAt.Add(p.Backoff(r.FailedCount)))
	}
	return false
}

// ExpiredBy reports whether the checkout is past its window: never sent to the PSP and
// created before createdBefore (now minus the checkout TTL). Such a payment is recorded as
// CheckoutExpired, by the expiry sweep or by the confirm that arrives too late.
func (s State) ExpiredBy(createdBefore time.Time) bool {
	return s.Expirable() && s.CreatedAt.Before(createdBefore)
}

// Expirable reports whether the payment is a checkout nothing was sent to the PSP for.
// Once anything was, only a recorded outcome may close the payment.
func (s State) Expirable() bool {
	return s.Exists() && !s.Expired && s.Status == StatusNotStarted && s.Executions == 0
}
