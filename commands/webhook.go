package commands

import (
	"context"
	"errors"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
)

// Reconcile acts on a hint that Toss's record of a payment changed (a webhook). Hints are
// unsigned and may be forged, so it never trusts them: it looks the payment up and records
// only what Toss's record decides, for a payment that is open (UNKNOWN, or EXECUTING past
// the timeout). A settled payment whose record disagrees with ours raises an operator alert.
// It never confirms. A payment waiting for its deposit is settled by what the lookup says
// (deposit, expiry, closure); a deposit found after the payment expired or was closed is
// alerted, never booked. An approved virtual-account payment whose record waits for a deposit
// again (a deposit error) records the withdrawal and alerts. It returns what it did, for logs.
func (s *Service) Reconcile(ctx context.Context, orderID string, meta Meta) (string, error) {
	p, err := s.Load(ctx, orderID)
	if errors.Is(err, aggregate.ErrNotFound) {
		return "unknown payment", nil
	}
	if err != nil {
		return "", err
	}
	return s.reconcile(ctx, p, meta)
}

// reconcile is Reconcile for the payment as just loaded.
func (s *Service) reconcile(ctx context.Context, p Payment, meta Meta) (string, error) {
	meta = meta.forCommand()
	orderID := p.OrderID
	now := s.cfg.Now().UTC()
	open := p.OutcomeOpen(now.Add(-s.cfg.Recovery.ExecutingTimeout))
	switch {
	case p.WaitingForDeposit():
		return s.settleDeposit(ctx, p, meta)
	case open && p.FailedCount >= s.cfg.Recovery.Threshold:
		return "left to recovery", nil // its next claim escalates it to a person
	case p.Status.Approved():
		// Approved: what can change at Toss is a cancel made there (its console, a card
		// company) and, for a virtual account, the deposit withdrawn after a deposit error.
		did, _, err := s.settleApproved(ctx, p, "webhook", meta)
		if isRefundInProgress(err) && did == "" {
			return "left to recovery", nil // our own refund is open; the cancel may be it
		}
		return did, err
	case !open && !p.Status.Terminal():
		return "nothing to reconcile", nil
	}
	rec := s.lookup(ctx, p.State)
	if !rec.Decided {
		return "lookup undecided", nil
	}
	v := rec.Verdict
	if !open {
		if v.Status != p.Status && p.VirtualAccount != nil && v.Status == aggregate.StatusSuccess {
			// Money arrived in an account we expired or closed: never booked silently.
			s.sig.lateDeposits.Add(1)
			s.sig.alert(now, "deposit after "+orderID+" was closed")
			s.log.Error("deposit found at the PSP after the virtual account was expired or closed; an operator must refund or book it",
				"order_id", orderID, "recorded", p.Status, "outcome_code", p.Outcome.Code, "rule", v.Rule)
			return "late deposit alerted", nil
		}
		if v.Status != p.Status {
			s.sig.contradictions.Add(1)
			s.sig.alert(now, "Toss's record contradicts "+orderID)
			s.log.Error("Toss's record contradicts the recorded outcome", "order_id", orderID, "recorded", p.Status,
				"toss", v.Status, "rule", v.Rule, "toss_status", v.Code)
			return "contradiction alerted", nil
		}
		return "already recorded", nil
	}
	// Claim, then record what the lookup decided.
	claimed, err := s.claim(ctx, p, now, meta)
	if errors.Is(err, eventstore.ErrConcurrency) {
		return "claimed elsewhere", nil
	}
	if err != nil {
		return "", err
	}
	if _, err := s.record(ctx, claimed.Payment, v, meta, claimed.cause); err != nil {
		return "", err
	}
	return "recorded " + string(v.Status), nil
}
