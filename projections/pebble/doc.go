// Package pebble is the read model adapter on a Pebble key-value database (opened with
// localkv): paymentd's read models when it has a data directory and no DATABASE_URL. Unlike
// the memory adapter it holds nothing per payment in memory, so the process's memory does
// not grow with the payments it has seen, and it survives restarts: the projector resumes
// from the stored checkpoint instead of rebuilding from position 0.
//
// Invariants:
//   - A Commit is one Pebble batch: the changed rows, their history, the moves of their
//     index keys and the checkpoint are written together or not at all (Pebble applies a
//     batch atomically, also across a crash: localkv's writes are not fsync'd, but a batch is
//     never torn, so the checkpoint never runs ahead of the rows). Commits are serialised.
//   - Memory is bounded whatever the database holds: localkv's cache and memtables, plus,
//     per call, the rows of one batch or one page. Nothing is kept per payment; the
//     checkpoint is cached.
//   - Every index holds exactly the keys the rows call for (indexKeys): a commit deletes a
//     changed row's old keys it no longer has and writes its new ones in the same batch.
//   - Reads see one commit or the next, never part of one: List, OpenForRecovery read a
//     snapshot.
//   - Times are stored as Unix microseconds in UTC (the projections invariant: rows hold
//     times truncated to microseconds), so they come back equal.
//
// # Key layout
//
// One byte of prefix says what a key is. Times in keys are 8 bytes, Unix microseconds with
// the sign bit flipped, big-endian, and positions 8 bytes big-endian, so byte order is the
// order the queries walk; an orderId at the end of a key is its raw bytes (Go compares
// strings bytewise, so byte order is orderId order).
//
//	v                                      format: "paystream.readmodel.v1"
//	k                                      checkpoint: position uvarint | event id (16) | stream (uvarint length | bytes)
//	p orderId                              payment row: rowFormat (1) then the fields of projections.Payment (codec.go)
//	h len(orderId) orderId position seq    history row (len uvarint, seq 4 bytes): previous, new, reason, actor, at, event id
//	c createdAt orderId                    created index, every row: List without a status
//	s status NUL createdAt orderId         status index, every row under its status: List with a status
//	o updatedAt orderId                    open index: rows recovery may find open at some cutoff (mayBeOpen)
//	w dueDate orderId                      waiting index: rows WAITING_FOR_DEPOSIT, by due date (zero without an account)
//	d position                             dead letter
//
// Index keys have empty values; a query reads the row by its orderId. The checkpoint keeps
// the stream and id of the event it stands at, so that paymentd can tell, at start, whether
// its event store still holds that event (CheckpointMark): a read model ahead of its event
// store, or built from other events, is removed and rebuilt from position 0.
//
// A database of another layout fails Open with ErrIncompatible; its owner removes it and
// rebuilds, as the read model is derived from the event store.
package pebble
