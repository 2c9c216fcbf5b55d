// Package pebble keeps the reference ledger (ledger.Store) in a Pebble database under the
// embedded default's data directory (localkv), so that its memory does not grow with the
// payments it books, as MemoryStore's does.
//
// Keys (one prefix byte, then the rest):
//
//	s<seq>       the seq-th transaction posted (8-byte big-endian seq, from 1), JSON
//	i<id>        the seq transaction id was posted at
//	r<id>        present once transaction id is reversed
//	k<booking>   what transactions with Of = booking took back, per order seq, JSON
//	b<account>   an account's totals: "<debits> <credits>"
//
// Transactions are keyed by seq, not by id (a random UUID for most), so that they are
// written in key order and compactions move them rather than merge them; only the small
// id index is written at random.
//
// Invariants:
//   - A Post is one batch: the transaction, its id, its reversal mark, its booking's
//     taken-back figures and the balances it moves are written together or not at all, so
//     no reader sees part of one.
//   - Posts are serialised (one mutex): the checks a Post makes (posted before, reversed
//     before, taken back beyond the booking) and its batch are one step, so concurrent
//     redeliveries post once. One process opens the directory at a time (Pebble's lock).
//   - Memory is bounded whatever the ledger holds: Pebble's cache and memtables (localkv),
//     one Balance per account (the sellers and a few of our own), kept beside the database
//     so that reading them reads no file, and a fixed-size filter of the ids posted
//     (localkv.Filter, rebuilt from the id index at Open), so that checking a new id
//     — every booking — reads no file either.
//   - Writes are not fsync'd (localkv): a process crash loses nothing written, a machine
//     crash may lose the last bookings. In the embedded default the in-process broker
//     delivers every approval again after a restart unless KAFKA_DATA_DIR keeps its
//     offsets, and booking again posts nothing twice (ids).
package pebble
