package commands

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
)

// CancelRequest asks for a refund of an approved payment, in Toss's terms.
type CancelRequest struct {
	OrderID string
	// Amount to refund; zero refunds the whole balance.
	Amount decimal.Decimal
	// Orders says which PaymentOrders the money comes back from; nil when unambiguous (a
	// full cancel, or one order with money left).
	Orders         []aggregate.RefundSplit
	Reason         string
	TaxFreeAmount  decimal.Decimal
	Account        *aggregate.RefundAccount
	IdempotencyKey string
}

// Cancel refunds a payment once at the PSP and records the outcome, as Confirm does: two
// updates around the PSP call, RefundRequested (the claim: of many concurrent cancels one
// appends it, the others find the refund open) and its outcome. It returns the payment as
// recorded; the refund it made is the last of p.Refunds (UNKNOWN: recovery settles it).
// Errors: aggregate.ErrNotFound, aggregate.ErrRefundExecuting (another refund is open),
// aggregate.ErrExecuting (a confirm runs), *aggregate.RefundError (cannot be made as asked),
// *aggregate.ValidationError, ErrIdempotencyKeyReused, ErrPSPUnavailable, ErrContention.
func (s *Service) Cancel(ctx context.Context, req CancelRequest, meta Meta) (Payment, error) {
	meta = meta.forCommand()
	hash := fingerprint(req.OrderID, req.Amount.String(), req.Orders, req.Reason, req.TaxFreeAmount.String(), req.Account)
	p, err := s.Load(ctx, req.OrderID)
	if err != nil {
		return Payment{}, err
	}
	if p.Status == aggregate.StatusExecuting {
		return Payment{}, fmt.Errorf("cancel %s: %w", req.OrderID, aggregate.ErrExecuting)
	}
	if p.WaitingForDeposit() {
		return s.closeAccount(ctx, p, req, meta) // nothing was paid: close the account, refund nothing
	}
	now := s.cfg.Now().UTC()
	request := func(p Payment) ([]aggregate.Event, error) {
		for _, r := range p.Refunds {
			if req.IdempotencyKey != "" && r.RequestKey == req.IdempotencyKey && r.RequestHash != hash {
				return nil, ErrIdempotencyKeyReused
			}
		}
		id := refundID(p.OrderID, len(p.Refunds)+1)
		return aggregate.Decide(p.State, aggregate.RequestRefund{RefundID: id, Amount: req.Amount, Orders: req.Orders,
			Reason: req.Reason, TaxFreeAmount: req.TaxFreeAmount, Account: req.Account, PspIdempotencyKey: "cancel-" + id,
			RequestKey: req.IdempotencyKey, RequestHash: hash, At: now})
	}
	// Decided once before the key is claimed, so that a refused request leaves its key
	// unused, and the key claimed before anything is recorded, so that a key used for
	// another request refuses this one before a refund exists that recovery would send.
	if _, err := request(p); err != nil {
		return Payment{}, fmt.Errorf("cancel: %s: %w", req.OrderID, err)
	}
	if err := s.claimKey(ctx, req.IdempotencyKey, KeyClaimed{Operation: "cancel", OrderID: req.OrderID, RequestHash: hash}, meta); err != nil {
		return Payment{}, err
	}
	requested, err := s.update(ctx, req.OrderID, &p, meta, "", request)
	if err != nil {
		return Payment{}, fmt.Errorf("cancel: %w", err)
	}
	if requested.cause == "" {
		return requested.Payment, nil // a retry of a refund already requested: answered as recorded
	}
	r, _ := requested.OpenRefund()
	// From here the PSP may refund: finish even if the caller goes away.
	execCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ConfirmTimeout)
	defer cancel()
	v := s.cancelAtPSP(execCtx, requested.State, r)
	recorded, err := s.recordRefund(execCtx, requested.Payment, r.ID, v, meta, requested.cause)
	if err != nil {
		s.log.Error("refund outcome not recorded; left EXECUTING for recovery", "order_id", p.OrderID, "refund_id", r.ID, "err", err)
		return Payment{}, err
	}
	if v.Status == aggregate.StatusNotStarted {
		return recorded, fmt.Errorf("cancel %s: %s: %w", p.OrderID, v.Code, ErrPSPUnavailable)
	}
	return recorded, nil
}

// refundID names the n-th refund of a payment (its PSP Idempotency-Key is "cancel-" + id).
func refundID(orderID string, n int) string { return fmt.Sprintf("%s-r%d", orderID, n) }

// refundExecutionOf is refund r of the payment as the PSP is asked for it.
func refundExecutionOf(st aggregate.State, r aggregate.Refund) RefundExecution {
	e := RefundExecution{OrderID: st.OrderID, PaymentKey: st.PaymentKey, Amount: r.Amount, TaxFreeAmount: r.TaxFreeAmount,
		Reason: r.Reason, Account: r.Account, IdempotencyKey: r.PspIdempotencyKey}
	for _, known := range st.Refunds {
		if known.TransactionKey != "" {
			e.KnownCancels = append(e.KnownCancels, known.TransactionKey)
		}
	}
	return e
}

// cancelAtPSP asks the PSP to refund r, retrying and settling by lookup as atPSP does.
func (s *Service) cancelAtPSP(ctx context.Context, st aggregate.State, r aggregate.Refund) aggregate.Verdict {
	e := refundExecutionOf(st, r)
	return s.atPSP(ctx, st.OrderID, func(ctx context.Context) PSPAnswer {
		begun := time.Now()
		a := s.cfg.PSP.Cancel(ctx, e)
		s.cfg.Observer.PSPRequested("cancel", pspOutcome(a), time.Since(begun))
		return a
	},
		func(ambiguous aggregate.Verdict) aggregate.Verdict {
			if v, found := s.refundByLookup(ctx, st, r); found {
				return v
			}
			return ambiguous
		})
}

// refundByLookup looks for refund r in the PSP's record: a cancel of its amount that is not
// one the payment already recorded. Not finding one decides nothing (it may still come).
func (s *Service) refundByLookup(ctx context.Context, st aggregate.State, r aggregate.Refund) (aggregate.Verdict, bool) {
	rec := s.lookup(ctx, st)
	if rec.Err != nil {
		return aggregate.Verdict{}, false
	}
	known := refundExecutionOf(st, r).KnownCancels
	for _, c := range rec.Cancels {
		if c.Amount.Equal(r.Amount) && !slices.Contains(known, c.TransactionKey) {
			return aggregate.Verdict{Status: aggregate.StatusSuccess, Rule: RuleRefundFoundByLookup, TransactionKey: c.TransactionKey,
				CanceledAt: c.CanceledAt, Evidence: rec.Evidence}, true
		}
	}
	return aggregate.Verdict{}, false
}

// RuleRefundFoundByLookup: the refund was found in the PSP's record of the payment.
const RuleRefundFoundByLookup = "refund.v1/found-in-psp-record"

// recordRefund appends the refund's verdict under its own timeout, detached from the caller.
// An outcome recorded meanwhile by someone else (recovery, an operator) stands.
func (s *Service) recordRefund(ctx context.Context, p Payment, refundID string, v aggregate.Verdict, meta Meta, causation string) (Payment, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.RecordTimeout)
	defer cancel()
	u, err := s.update(ctx, p.OrderID, &p, meta, causation, func(p Payment) ([]aggregate.Event, error) {
		if r, ok := p.RefundByID(refundID); !ok || r.Status != aggregate.StatusExecuting {
			return nil, nil
		}
		return aggregate.Decide(p.State, aggregate.RecordRefundOutcome{RefundID: refundID, Verdict: v, At: s.cfg.Now().UTC()})
	})
	if err != nil {
		return Payment{}, fmt.Errorf("record refund outcome: %w", err)
	}
	if u.cause != "" {
		s.noteVerdict(v)
	}
	return u.Payment, nil
}

// recoverRefund settles the payment's open refund like Recover settles a confirm: claim at
// the exact revision, look the refund up in the PSP's record, re-send the cancel with the
// refund's own idempotency key only when the record does not show it, escalate past the
// threshold.
func (s *Service) recoverRefund(ctx context.Context, p Payment, now time.Time, meta Meta) (RecoveryResult, Payment, error) {
	claimed, err := s.updateOnce(ctx, p.OrderID, &p, meta, "", func(p Payment) ([]aggregate.Event, error) {
		return aggregate.Decide(p.State, aggregate.ClaimRefundRecovery{ExecutingBefore: now.Add(-s.cfg.Recovery.ExecutingTimeout),
			Threshold: s.cfg.Recovery.Threshold, At: now})
	})
	if res, done := s.claimResult(err); done {
		return res, p, nil
	} else if err != nil {
		return "", p, err
	}
	r, _ := claimed.OpenRefund()
	if r.Escalated {
		s.escalated(now, p.OrderID, "refund", r.FailedCount)
		return RecoveryEscalated, claimed.Payment, nil
	}
	s.sig.recoveryAttempts.Add(1)
	execCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ConfirmTimeout)
	defer cancel()
	v, found := s.refundByLookup(execCtx, claimed.State, r)
	if !found {
		v = s.cancelAtPSP(execCtx, claimed.State, r)
	}
	recorded, err := s.recordRefund(execCtx, claimed.Payment, r.ID, v, meta, claimed.cause)
	if err != nil {
		return "", claimed.Payment, err
	}
	s.log.Info("refund recovery attempt recorded", "order_id", p.OrderID, "refund_id", r.ID, "status", v.Status,
		"rule", v.Rule, "by_lookup", found)
	return RecoverySettled, recorded, nil
}
