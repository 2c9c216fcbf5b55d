// Package postgres keeps the reference ledger (ledger.Store) in PostgreSQL, for the
// standalone ledger in production: bookings and their idempotency by message id survive
// restarts and hold across every process sharing the database.
//
// Tables live in one schema (default "ledger"): transactions (one row per posted
// transaction, primary key = its id, i.e. the approval's message id for bookings) and
// entries (its debit and credit lines, amounts numeric). Open applies the embedded,
// versioned migrations (migrations/NNNN_*.sql) under an advisory lock.
//
// Invariants, enforced by the database and not only by this code:
//   - Double entry: a deferred constraint trigger refuses, at commit, any transaction whose
//     Σ debits ≠ Σ credits or that has no entries; amounts are positive (CHECK).
//   - Immutability: triggers refuse UPDATE, DELETE and TRUNCATE of transactions and
//     entries; a correction is a reversal transaction.
//   - A transaction id is posted once (primary key; Post inserts with ON CONFLICT DO
//     NOTHING, so concurrent redeliveries post it once and the others report posted=false),
//     and a transaction is reversed at most once (unique reverses column, a foreign key to
//     the reversed transaction).
//   - Balances are a SQL aggregate over the entries, so they cannot drift from them and no
//     balance row is locked by every booking.
package postgres
