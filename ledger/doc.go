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
// Storage is behind Store; MemoryStore keeps it in memory (the embedded mode and tests).
// The Kafka side (read-committed, exactly once per approval) lives in the booking package.
package ledger
