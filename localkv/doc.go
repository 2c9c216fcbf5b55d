// Package localkv opens the on-disk key-value stores (Pebble) that the embedded default keeps
// under its data directory for state that would otherwise grow in memory with every payment:
// the read models, the books' tally and the in-process Toss simulator.
//
// Invariants:
//   - Memory is bounded whatever the database holds: one block cache and the memtables, sized
//     here (Open), are all Pebble keeps resident; everything else is read from the files.
//   - Writes are not fsync'd (pebble.NoSync is what callers pass): everything kept here is
//     derived from the event store, or simulated, and its owner can rebuild it. A crash keeps
//     every write batch whole or drops it whole, so a checkpoint written in the same batch as
//     what it covers never runs ahead of it.
package localkv
