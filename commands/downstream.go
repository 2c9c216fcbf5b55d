package commands

import (
	"context"

	"github.com/paystream/paystream/aggregate"
)

// Completion is a downstream service reporting that it booked some orders of a payment.
type Completion struct {
	OrderID   string
	Orders    []int  // order Seqs, 1-based
	MessageID string // the completion message's id, recorded for audits
}

// RecordLedgerUpdated records that the ledger booked the orders; when every order is in the
// ledger and the wallets the payment is completed. Repeats are no-ops. Errors:
// aggregate.ErrNotFound, aggregate.ErrNotApproved, *aggregate.ValidationError.
func (s *Service) RecordLedgerUpdated(ctx context.Context, c Completion, meta Meta) (Payment, error) {
	return s.recordDownstream(ctx, c, meta, aggregate.RecordLedgerUpdated{Orders: c.Orders, MessageID: c.MessageID, At: s.cfg.Now().UTC()})
}

// RecordWalletUpdated is RecordLedgerUpdated for the sellers' wallets.
func (s *Service) RecordWalletUpdated(ctx context.Context, c Completion, meta Meta) (Payment, error) {
	return s.recordDownstream(ctx, c, meta, aggregate.RecordWalletUpdated{Orders: c.Orders, MessageID: c.MessageID, At: s.cfg.Now().UTC()})
}

func (s *Service) recordDownstream(ctx context.Context, c Completion, meta Meta, cmd aggregate.Command) (Payment, error) {
	u, err := s.update(ctx, c.OrderID, nil, meta.forCommand(), "", func(p Payment) ([]aggregate.Event, error) {
		return aggregate.Decide(p.State, cmd)
	})
	return u.Payment, err
}
