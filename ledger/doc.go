// Package ledger is paystream's reference double-entry ledger: the downstream subscriber
// that books every approved payment order.
//
// An approval of a payment with orders o₁…oₙ becomes one transaction (its id is the
// approval's message id) with, per order, a debit of psp_receivable and a credit of
// seller_payable:<sellerId> for the order's amount.
//
// A refund (payment.refunded.v1) is a Reversal of part of that booking: per order it came
// from, a debit of seller_payable:<sellerId> and a credit of psp_receivable, in a
// transaction linked to the booking (Of). A refund whose orders are not known yet (a
// cancel made at the PSP) debits refunds_unallocated instead of any seller; its
// allocation (payment.refund-allocated.v1) is the Reversal against refunds_unallocated.
// A withdrawn deposit (payment.deposit-withdrawn.v1: a virtual-account deposit error, the
// payment found not paid after all) is TakeBack with no orders: everything left of the
// booking comes back from its sellers, against psp_receivable.
//
// Toss's settlements (reconcile.Books, handed over by every reconciliation run): per PSP
// transaction, once by its key, the fees (fee + VAT + interest fee) are an expense taken out
// of what the PSP owes (debit psp_fees, credit psp_receivable), and on or after the payout
// date the payout is cash (debit cash, credit psp_receivable); a cancel's negative row
// posts the mirror images. So the sellers' balances, less refunds_unallocated, equal
// psp_fees + psp_receivable + cash: the approvals net of refunds.
//
// Invariants:
//   - Every transaction balances: Σ debits = Σ credits, each entry's amount positive.
//   - Entries are immutable. A correction is a reversal transaction that posts the mirror
//     image of the original (debits become credits), never an edit or a delete; a
//     transaction is reversed at most once.
//   - Booking is idempotent by message id: a redelivered approval or refund posts nothing.
//   - Per order, the transactions taking part of a booking back never take more than it
//     credited the seller (ErrOverReversed), however many refunds and allocations there
//     are; the stores enforce it under a lock on the booking.
//
// Storage is behind Store; MemoryStore keeps it in memory (the embedded mode without a data
// directory, and tests; about 1 KB per payment), ledger/pebble in a Pebble database (the
// embedded mode with a data directory; bounded memory), ledger/postgres in PostgreSQL (the
// standalone ledger in production). ledgertest is the conformance suite all three run. The Kafka side (read-committed, exactly once per approval)
// lives in the booking package.
//
// Durability across Kafka and PostgreSQL. An approval is committed twice, in this order:
//  1. the booking commits in PostgreSQL, deduplicated by the approval's message id;
//  2. the completion message (payment.ledger-updated.v1) and the consumed offsets commit
//     together in the consumer's Kafka transaction.
//
// There is no distributed transaction, and none is needed: a crash between 1 and 2 aborts
// the Kafka transaction, so the approval is delivered again; booking it again posts nothing
// (same message id), and the consumer re-publishes the same completion (its message id is
// derived from the approval's), which paymentd already deduplicates. A crash before 1 books
// nothing and redelivers; after 2 nothing is redelivered. So every approval is booked
// exactly once and completed at least once with one message id — provided the store is
// durable: with MemoryStore a restarted process forgets its bookings and books redelivered
// approvals again; ledger/pebble does not fsync, so a machine crash (not a process crash)
// may lose its last bookings. ledger/postgres has a spec for exactly this crash window.
package ledger
