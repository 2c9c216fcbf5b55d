// Package ledger is paystream's reference double-entry ledger: the downstream subscriber
// that books every approved payment order.
//
// An approval of a payment with orders o₁…oₙ becomes one transaction (its id is the
// approval's message id) with, per order, a debit of psp_receivable and a credit of
// seller_payable:<sellerId> for the order's amount.
//
// Invariants:
//   - Every transaction balances: Σ debits = Σ credits, each entry's amount positive.
//   - Entries are immutable. A correction is a reversal transaction that posts the mirror
//     image of the original (debits become credits), never an edit or a delete; a
//     transaction is reversed at most once.
//   - Booking is idempotent by message id: a redelivered approval posts nothing.
//
// Storage is behind Store; MemoryStore keeps it in memory (the embedded mode and tests),
// ledger/postgres in PostgreSQL (the standalone ledger in production). ledgertest is the
// conformance suite both run. The Kafka side (read-committed, exactly once per approval)
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
// approvals again. ledger/postgres has a spec for exactly this crash window.
package ledger
