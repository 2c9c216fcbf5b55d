// Package postgres is the PostgreSQL read model adapter (pgx/v5): the tables
// payment_events, payment_orders, payment_refunds, payment_order_history, projection_checkpoint and
// projection_dead_letters in one schema (default "readmodel"), created by the versioned
// migrations embedded in migrations/ and applied by Open.
//
// Invariants:
//   - Commit reads the checkpoint row FOR UPDATE, applies the batch with
//     projections.ApplyBatch on the rows it loads, and writes rows, history and checkpoint
//     in that one transaction; a checkpoint that moved (another projector, a rebuild's swap)
//     aborts it with projections.ErrCheckpointMoved. So two projectors can never apply an
//     event twice, whatever the lease does.
//   - Exclusive holds a session-level advisory lock on a dedicated connection while the
//     projector runs; other processes stand by and take over when that connection dies.
//   - Rebuild projects from position 0 into a fresh schema and, once it has caught up with
//     the live checkpoint, replaces the live rows in one transaction that holds the live
//     checkpoint row, so readers see the old rows or the new ones, never a mix.
//   - Money is numeric, read back as decimal.Decimal; times are timestamptz (microseconds).
//   - A payment's virtual account is in payment_events (va_*; va_due_date NULL: none); rows
//     projected before migration 0003 have none until a rebuild, and DepositsDue lists
//     those still waiting as always due, so the worker still checks them (from the stream).
package postgres
