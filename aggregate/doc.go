// Package aggregate is the payment decider: the rules of one payment, with no I/O.
//
// A payment is one PaymentEvent (the checkout, identified by its orderId at the PSP) with N
// PaymentOrders (one per product line and seller). Its history is a stream of events; State
// is what those events add up to (Fold, Evolve), and Decide turns a command and the current
// State into new events or an error. Decide and Evolve never read a clock, generate an id or
// call anything: times, ids and PSP answers arrive inside commands.
//
// Invariants enforced here:
//   - every order amount is a positive whole number of KRW and the payment's total is their sum;
//   - a checkout has at most Limits.MaxLines lines of at most Limits.MaxLineQuantity units,
//     and a total between Toss's minimum (MinTotal) and Limits.MaxTotal;
//   - a payment is executed against the PSP only from NOT_STARTED or UNKNOWN, and only one
//     execution is open at a time (EXECUTING);
//   - at most one approval is ever recorded; SUCCESS and FAILURE are terminal and nothing
//     leaves them except a later recorded event that says why (manual resolution, refunds);
//   - once a paymentKey and amount were sent to the PSP, a later execution must use the same
//     ones (the PSP's idempotency key is per payment, not per request).
//
// Events are a sealed set (the Event interface cannot be implemented outside this package).
// Each has a stable, versioned name ("payment.checkout-created.v1"); codec.go maps names to
// decoders, and that map is the only place an older version is upcast to the current one.
// Released versions are frozen: golden files in testdata/events must decode forever.
package aggregate
