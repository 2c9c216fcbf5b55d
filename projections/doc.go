// Package projections turns the payment event streams into the read models that every query
// serves from: PaymentEvent rows (payment_events, with a virtual-account payment's account
// and due date), PaymentOrder rows (payment_orders), the payment's refunds (payment_refunds)
// and the status history of every order (payment_order_history). Besides reads for the API,
// the recovery worker asks them which payments are open for recovery (OpenForRecovery) and
// which virtual accounts are due for a check (DepositsDue).
//
// The projection is one pure function, Apply, from a payment's current row state and one
// recorded event to its next row state and the history rows the event adds. It folds with
// aggregate.Evolve, so the rows are the aggregate's State, written out. The PostgreSQL and
// memory adapters call it (through ApplyBatch) inside their write transaction, and Verify
// calls it to recompute the rows from the streams, so the three cannot drift apart. StateOf
// reads the rows back as a State that keeps every field Evolve reads (refunds included) and
// every field the API shows, so applying an event to rows equals folding it.
//
// Invariants:
//   - Rows and the checkpoint (the position of the last event applied) are written in the
//     same transaction: after a crash the read model is exactly "every event up to the
//     checkpoint", never more or less.
//   - An event whose position the checkpoint already covers changes nothing; a payment's
//     events are applied in revision order with no gap, otherwise the batch fails.
//   - An event Apply cannot apply (an unknown type, an event for a payment that was never
//     created, a gap in revisions) is never skipped: the Projector records it as a dead
//     letter, logs an operator alert, turns its health red and stops at that event. The
//     checkpoint stays just before it, so fixing the cause (deploying a version that knows
//     the event) and restarting resumes exactly there.
//   - Times are UTC truncated to microseconds (PostgreSQL's precision) and money is
//     decimal.Decimal, so every adapter holds identical values.
package projections
