// Package postgres keeps the reference wallet (wallet.Store) in PostgreSQL, for the
// standalone wallet in production: balances and the idempotency by message id survive
// restarts and hold across every process sharing the database.
//
// Tables live in one schema (default "wallet"): applied_messages (primary key = the
// approval's message id), credits (the journal of every order credited, amounts numeric)
// and balances (one row per seller). Open applies the embedded, versioned migrations
// (migrations/NNNN_*.sql) under an advisory lock.
//
// Invariants:
//   - Apply records the message id, its credits and the balance changes in one database
//     transaction: all of them or none.
//   - A message id is applied once (primary key; inserted with ON CONFLICT DO NOTHING, so
//     concurrent redeliveries apply it once and the others report applied=false).
//   - applied_messages and credits are immutable (triggers refuse UPDATE, DELETE,
//     TRUNCATE); a balance equals the sum of its seller's credits.
//   - Balance rows are updated in seller order, so concurrent approvals crediting the same
//     sellers never deadlock.
package postgres
