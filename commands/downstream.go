package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
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
	return s.decide(ctx, c.OrderID, meta.forCommand(), func(aggregate.State) aggregate.Command {
		return aggregate.RecordLedgerUpdated{Orders: c.Orders, MessageID: c.MessageID, At: s.cfg.Now().UTC()}
	})
}

// RecordWalletUpdated is RecordLedgerUpdated for the sellers' wallets.
func (s *Service) RecordWalletUpdated(ctx context.Context, c Completion, meta Meta) (Payment, error) {
	return s.decide(ctx, c.OrderID, meta.forCommand(), func(aggregate.State) aggregate.Command {
		return aggregate.RecordWalletUpdated{Orders: c.Orders, MessageID: c.MessageID, At: s.cfg.Now().UTC()}
	})
}

// decide is load → decide → append for commands that need no I/O between deciding and
// appending, reloading on concurrent appends. No events decided is a successful no-op.
func (s *Service) decide(ctx context.Context, orderID string, meta Meta, command func(aggregate.State) aggregate.Command) (Payment, error) {
	for range maxContentionRetries {
		p, err := s.Load(ctx, orderID)
		if err != nil {
			return Payment{}, err
		}
		events, err := aggregate.Decide(p.State, command(p.State))
		if err != nil {
			return p, fmt.Errorf("%s: %w", orderID, err)
		}
		if len(events) == 0 {
			return p, nil
		}
		res, err := s.append(ctx, StreamName(orderID), p.Revision, events, meta, "")
		if errors.Is(err, eventstore.ErrConcurrency) {
			continue
		}
		if err != nil {
			return Payment{}, err
		}
		return p.with(events, res), nil
	}
	return Payment{}, fmt.Errorf("%s: %w", orderID, ErrContention)
}
