// Package localkv opens the on-disk key-value stores (Pebble) that the embedded default keeps
// under its data directory for state that would otherwise grow in memory with every payment:
// the read models, the in-process ledger and wallet and the in-process Toss simulator; and
// Filter, a fixed-size bloom filter that spares a database the lookups of keys it lacks.
//
// Invariants:
//   - Memory is bounded whatever the database holds: one block cache and the memtables, sized
//     here (Open), are all Pebble keeps resident; everything else is read from the files. A
//     Filter is FilterBytes, however many keys it holds (its false positives grow instead).
//   - Writes are not fsync'd (pebble.NoSync is what callers pass): everything kept here is
//     derived from the event store, or simulated, and its owner can rebuild it. A crash keeps
//     every write batch whole or drops it whole, so a checkpoint written in the same batch as
//     what it covers never runs ahead of it.
package localkv
