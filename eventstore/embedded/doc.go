// Package embedded is the event store that runs inside the process: in memory
// (OpenMemory), or backed by a data directory that survives restarts (Open). Both keep
// their events in an append-only log of frames (below) — memory mode in chunks of bytes in
// memory, a data directory in a file — and as Go values only an index (each stream's
// positions, each position's stream and frame offset) and a cache of the most recent
// events; reads of older events read the log. A chunk of bytes costs the garbage collector
// one object to mark however many events it holds; as structs of their own, each with its
// own bytes, a memory-mode process's events were a fifth of its marking
// (docs/performance.md).
//
// Invariants, on top of those of package eventstore:
//   - Positions are 1, 2, 3, … in commit order, with no gaps; revisions count per stream.
//   - An append is acknowledged (Append returns) only once it is visible to readers and
//     followers and, in a data directory, written to the log and fsync'd. Readers and
//     followers never see an event that is not acknowledged.
//   - Concurrent appends in a data directory are group-committed: one writer goroutine
//     writes everything queued with one write and one fsync, then acknowledges it all.
//   - Readers and followers take what they need from the index under a read lock and read
//     the log after releasing it; followers wait on a channel that is closed on each
//     commit. They never block appenders, and a slow follower loses nothing.
//   - Memory per event: about 20 bytes of index (8 for its stream's position list, 4 for
//     its stream, 8 for its frame offset), plus per stream its name and about 100 bytes,
//     plus the cache of recent events (64 MiB at most, beyond events still waiting for the
//     disk); in memory mode its frame in the log too (its data, metadata, type and id, and
//     about 10 bytes). Nothing is kept per follower, and no goroutine runs per event,
//     stream or follower.
//   - Every read from the log checks the frame's checksum: damage found there after Open
//     fails the read or follow with ErrCorrupt.
//   - A failed write or fsync breaks the store: appends fail with that error from then on
//     (the file's state is unknown, so guessing is worse), reads still work. Reopen it.
//   - A data directory is used by one open Store at a time (flock on LOCK); Open fails
//     with ErrLocked otherwise. Open needs a Unix flock.
//   - One append encodes to at most 64 MiB; more is ErrInvalidAppend in both modes.
//
// # Data directory
//
// A directory holds LOCK (the flock target, empty) and events.log. The log is a 16-byte
// header followed by one frame per append; integers are little-endian, "uvarint" is
// encoding/binary's, CRC32C is the Castagnoli CRC-32.
//
//	header:  magic "PSEVLOG\x00" (8) | format version uint32 = 1 | CRC32C of the previous 12 bytes
//	frame:   magic "EVT\xd1" (4) | body length uint32 | CRC32C of the length bytes and the body | body
//	body:    batch uint64          log offset where the write carrying this frame starts
//	         position uint64       of the first event; the others follow consecutively
//	         revision uint64       of the first event in its stream; likewise
//	         recorded at int64     Unix nanoseconds, UTC; shared by the append's events
//	         stream                uvarint length | bytes
//	         count uvarint
//	         count × event:        id (16) | type, data, metadata: each uvarint length | bytes
//
// One frame per append makes appends atomic on disk: a frame is intact or it is not.
// Replay checks that each frame continues the log (next position, next revision of its
// stream); a frame that passes its checksum but does not is ErrCorrupt.
//
// Memory mode writes the same frames, one per append, each its own batch, into memory (no
// header: offsets start at 0), and acknowledges an append once its frame is there.
//
// Recovery on open: replay stops at the first frame that is incomplete or fails its
// checksum. A batch is written only after the previous one was synced, so a crash can tear
// only the last batch, whose frames were never acknowledged. If no intact frame of a
// later batch (batch field beyond the damaged offset) follows, the damage is such a torn
// tail: the file is truncated there and the repair logged at warn level. Otherwise
// acknowledged data is damaged and Open fails with an error wrapping ErrCorrupt, leaving
// the file untouched. A damaged frame in the last batch is indistinguishable from a torn
// one and is truncated (and logged) too.
//
// While open, the file runs ahead of the log: the writer fills it with zeros a MiB at a
// time before appending into them, so that most fsyncs have no block allocation or size
// change to commit (a third less time and CPU on ext4). Zeros read as no frame. Close cuts
// them off; Open cuts off a tail that is all zeros (left by a killed process) at info
// level, not as a torn tail.
package embedded
