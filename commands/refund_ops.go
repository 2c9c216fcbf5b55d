package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-json-experiment/json/v1"

	"github.com/paystream/paystream/aggregate"
)

// RecordExternalRefunds records the cancels in the PSP's record of an approved payment that
// paystream did not make (Toss's console, a card company), each once by its transaction key,
// with foundBy (lookup, webhook, reconciliation) and the caller's actor. A full cancel is
// split over the orders; a partial one whose split is unknown is recorded unallocated, for an
// operator to allocate. While a refund of ours is open nothing is recorded (recovery settles
// it first: the cancel may be it). A virtual-account payment whose record shows its deposit
// withdrawn (a deposit error) records that instead. It returns how many refunds it recorded.
func (s *Service) RecordExternalRefunds(ctx context.Context, orderID, foundBy string, meta Meta) (int, error) {
	p, err := s.Load(ctx, orderID)
	if err != nil {
		return 0, err
	}
	_, n, err := s.settleApproved(ctx, p, foundBy, meta.forCommand())
	return n, err
}

// settleApproved records what the PSP's record says changed of approved payment p: its
// deposit withdrawn, or cancels made at the PSP. It returns what it did and how many
// refunds it recorded. A withdrawal meeting an open refund of ours fails with
// aggregate.ErrRefundExecuting and a did that says so (to be tried again once the refund is
// settled, unlike a cancel, which recovery's lookup finds).
func (s *Service) settleApproved(ctx context.Context, p Payment, foundBy string, meta Meta) (string, int, error) {
	rec := s.lookup(ctx, p.State)
	if rec.Err != nil {
		return "", 0, rec.Err
	}
	if withdrawnAtPSP(p, rec) {
		did, err := s.withdrawDeposit(ctx, p, rec, meta)
		if isRefundInProgress(err) {
			did = "withdrawal waits for the open refund"
		}
		return did, 0, err
	}
	orderID := p.OrderID
	recorded := 0
	for _, c := range rec.Cancels {
		// The payment in hand for the first cancel, then as each update left it: one read of
		// the stream for the lot, unless another writer moves it.
		u, err := s.update(ctx, orderID, &p, meta, "", func(p Payment) ([]aggregate.Event, error) {
			return aggregate.Decide(p.State, aggregate.RecordExternalRefund{RefundID: orderID + "-x-" + c.TransactionKey,
				TransactionKey: c.TransactionKey, Amount: c.Amount, Reason: c.Reason, FoundBy: foundBy, CanceledAt: c.CanceledAt,
				Evidence: rec.Evidence, At: s.cfg.Now().UTC()})
		})
		if err != nil {
			return "", recorded, err
		}
		p = u.Payment
		if u.cause != "" {
			recorded++
			r, _ := u.RefundByID(orderID + "-x-" + c.TransactionKey)
			if r.Orders == nil {
				s.sig.alert(s.cfg.Now(), "refund to allocate "+r.ID)
				s.log.Error("OPERATOR ALERT: a cancel made at the PSP needs allocating to orders", "order_id", orderID,
					"refund_id", r.ID, "amount", r.Amount.String(), "alert", true)
			}
		}
	}
	return fmt.Sprintf("recorded %d external refunds", recorded), recorded, nil
}

// Allocation is an operator saying which orders an unallocated refund came from.
type Allocation struct {
	OrderID  string
	RefundID string
	Orders   []aggregate.RefundSplit
	Actor    string
	Reason   string
}

// AllocateRefund records an allocation. Errors: aggregate.ErrNotFound, aggregate.ErrNoSuchRefund,
// *aggregate.RefundError (allocated already, more than an order has left),
// *aggregate.ValidationError.
func (s *Service) AllocateRefund(ctx context.Context, a Allocation, meta Meta) (Payment, error) {
	u, err := s.update(ctx, a.OrderID, nil, meta.forCommand(), "", func(p Payment) ([]aggregate.Event, error) {
		return aggregate.Decide(p.State, aggregate.AllocateRefund{RefundID: a.RefundID, Orders: a.Orders, Actor: a.Actor,
			Reason: a.Reason, At: s.cfg.Now().UTC()})
	})
	return u.Payment, err
}

// RefundResolution is an operator's manual settlement of an open refund.
type RefundResolution struct {
	OrderID    string
	RefundID   string
	Resolution aggregate.Status // SUCCESS (refunded) or FAILURE
	Actor      string
	Reason     string
	Force      bool
}

// ResolveRefund records an operator's resolution of an open refund after checking it
// against the PSP's record. Errors as for Resolve, and aggregate.ErrNoSuchRefund.
func (s *Service) ResolveRefund(ctx context.Context, r RefundResolution, meta Meta) (Payment, error) {
	p, err := s.Load(ctx, r.OrderID)
	if err != nil {
		return Payment{}, err
	}
	refund, ok := p.RefundByID(r.RefundID)
	if !ok {
		return Payment{}, aggregate.ErrNoSuchRefund
	}
	says, status, txKey, evidence := s.refundOpinion(ctx, p.State, refund)
	defer s.sig.manualResolutions.Add(1)
	u, err := s.update(ctx, r.OrderID, &p, meta.forCommand(), "", func(p Payment) ([]aggregate.Event, error) {
		return aggregate.Decide(p.State, aggregate.ResolveRefund{RefundID: r.RefundID, Resolution: r.Resolution, Actor: r.Actor,
			Reason: r.Reason, Force: r.Force, PspSays: says, PspStatus: status, TransactionKey: txKey, Evidence: evidence,
			At: s.cfg.Now().UTC()})
	})
	return u.Payment, err
}

// refundOpinion is what the PSP's record says of a refund: SUCCESS when it shows the
// cancel, FAILURE when it does not (a SUCCESS would contradict it), UNKNOWN when the lookup
// failed.
func (s *Service) refundOpinion(ctx context.Context, st aggregate.State, r aggregate.Refund) (aggregate.Status, string, string, json.RawMessage) {
	rec := s.lookup(ctx, st)
	if rec.Err != nil {
		return aggregate.StatusUnknown, "lookup failed: " + rec.Err.Error(), "", nil
	}
	if v, found := s.refundByLookup(ctx, st, r); found {
		return aggregate.StatusSuccess, rec.Status, v.TransactionKey, v.Evidence
	}
	return aggregate.StatusFailure, rec.Status, "", rec.Evidence
}

// RefundBooking is the ledger or the wallets reporting that they booked a refund.
type RefundBooking struct {
	OrderID   string
	RefundID  string
	By        string // "ledger" or "wallet"
	MessageID string
}

// RecordRefundBooked records a booking of a refund; repeats are no-ops. Errors:
// aggregate.ErrNotFound, aggregate.ErrNoSuchRefund, aggregate.ErrNotApproved,
// *aggregate.ValidationError.
func (s *Service) RecordRefundBooked(ctx context.Context, b RefundBooking, meta Meta) (Payment, error) {
	u, err := s.update(ctx, b.OrderID, nil, meta.forCommand(), "", func(p Payment) ([]aggregate.Event, error) {
		return aggregate.Decide(p.State, aggregate.RecordRefundBooked{RefundID: b.RefundID, By: b.By, MessageID: b.MessageID,
			At: s.cfg.Now().UTC()})
	})
	return u.Payment, err
}

// isRefundInProgress reports errors that mean "a refund of ours is open, try later".
func isRefundInProgress(err error) bool { return errors.Is(err, aggregate.ErrRefundExecuting) }
