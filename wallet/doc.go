// Package wallet is paystream's reference seller wallet: the downstream subscriber that
// credits each seller with the amounts of their approved orders and debits them for
// refunds (a negative credit per refunded order; an unallocated refund debits no one until
// its allocation names the orders). The journal needs no new column for that: a debit is
// a credit line with a negative amount, under the refund's message id.
//
// Invariants:
//   - A wallet's balance is the sum of the credits applied to it; credits are never edited.
//   - Applying an approval or a refund is atomic (every order's credit or none) and
//     idempotent by message id: a redelivered message changes no balance.
//
// Storage is behind Store; MemoryStore keeps it in memory (the embedded mode without a data
// directory, and tests; about 0.1 KB per payment), wallet/pebble in a Pebble database (the
// embedded mode with a data directory; bounded memory), wallet/postgres in PostgreSQL (the
// standalone wallet in production); wallettest is the conformance suite all three run. The Kafka side lives in the booking package; the durability
// argument across PostgreSQL and Kafka is the ledger's (see package ledger): the credit
// commits first, deduplicated by message id, then the completion with the offsets.
package wallet
