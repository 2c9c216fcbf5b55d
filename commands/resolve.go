package commands

import (
	"context"

	"github.com/go-json-experiment/json/v1"

	"github.com/paystream/paystream/aggregate"
)

// Resolution is an operator's manual settlement of a payment.
type Resolution struct {
	OrderID    string
	Resolution aggregate.Status // SUCCESS or FAILURE
	Actor      string
	Reason     string
	Force      bool // record it even if the PSP's record contradicts it
}

// Resolve records an operator's resolution after checking it against the PSP's record.
// Errors: aggregate.ErrContradictsPSP (unless forced), aggregate.ErrAlreadyResolved,
// aggregate.ErrNotRecoverable, *aggregate.ValidationError, aggregate.ErrNotFound.
func (s *Service) Resolve(ctx context.Context, r Resolution, meta Meta) (Payment, error) {
	p, err := s.Load(ctx, r.OrderID)
	if err != nil {
		return Payment{}, err
	}
	says, status, evidence := s.pspOpinion(ctx, p.State)
	defer s.sig.manualResolutions.Add(1)
	u, err := s.update(ctx, r.OrderID, &p, meta.forCommand(), "", func(p Payment) ([]aggregate.Event, error) {
		return aggregate.Decide(p.State, aggregate.Resolve{Resolution: r.Resolution, Actor: r.Actor, Reason: r.Reason, Force: r.Force,
			PspSays: says, PspStatus: status, Evidence: evidence, At: s.cfg.Now().UTC()})
	})
	return u.Payment, err
}

// pspOpinion is what the PSP's record says about a payment, for checking a manual
// resolution: UNKNOWN only when the lookup failed; anything not captured is FAILURE, since
// a SUCCESS would contradict it.
func (s *Service) pspOpinion(ctx context.Context, st aggregate.State) (aggregate.Status, string, json.RawMessage) {
	rec := s.lookup(ctx, st)
	switch {
	case rec.Err != nil:
		return aggregate.StatusUnknown, "lookup failed: " + rec.Err.Error(), nil
	case rec.Decided:
		return rec.Verdict.Status, rec.Status, rec.Verdict.Evidence
	default:
		// No record, or READY, IN_PROGRESS, WAITING_FOR_DEPOSIT…: nothing captured (yet).
		return aggregate.StatusFailure, rec.Status, rec.Evidence
	}
}

// Expire records that a checkout was never confirmed within the checkout TTL. Errors:
// aggregate.ErrNotRecoverable (it was sent to the PSP), *aggregate.ValidationError (still
// within its window), aggregate.ErrNotFound.
func (s *Service) Expire(ctx context.Context, orderID string, meta Meta) (Payment, error) {
	now := s.cfg.Now().UTC()
	u, err := s.update(ctx, orderID, nil, meta.forCommand(), "", func(p Payment) ([]aggregate.Event, error) {
		return aggregate.Decide(p.State, aggregate.Expire{Before: now.Add(-s.cfg.CheckoutTTL), At: now})
	})
	return u.Payment, err
}
