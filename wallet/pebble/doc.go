// Package pebble keeps the reference wallets (wallet.Store) in a Pebble database under the
// embedded default's data directory (localkv), so that its memory does not grow with the
// messages it applies, as MemoryStore's does.
//
// Keys (one prefix byte, then the rest):
//
//	m<message id>   present once the message is applied
//	b<seller>       the seller's balance, a decimal
//	n               how many messages were applied, 8 bytes big-endian
//
// Invariants:
//   - An Apply is one batch: its message id, every balance it moves and the count are
//     written together or not at all.
//   - Applies are serialised (one mutex), so the check that a message is new and its batch
//     are one step and concurrent redeliveries apply once. One process opens the directory
//     at a time (Pebble's lock).
//   - Memory is bounded whatever the wallets hold: Pebble's cache and memtables (localkv),
//     one balance per seller, kept beside the database so that reading them reads no file,
//     and a fixed-size filter of the message ids applied (localkv.Filter, rebuilt from the
//     database at Open), so that checking a new message — every one — reads no file either.
//   - Writes are not fsync'd (localkv): a process crash loses nothing written, a machine
//     crash may lose the last credits (see package ledger/pebble for why the embedded
//     default can live with that).
package pebble
