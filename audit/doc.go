// Package audit is what auditors use to trust paystream's history: the hash chain that
// makes every payment stream tamper-evident, the verifier that says which revision was
// edited, removed, inserted or reordered, signed anchors over every stream head, as-of
// replay and timelines, and exports.
//
// Invariants:
//   - Every event written since the chain was introduced carries in its metadata its own
//     hash (Seal: stream, revision, type, data, metadata without the hash) and the hash of
//     its predecessor in the stream. commands builds events in one place and calls Seal
//     there; nothing else writes payment events.
//   - Events recorded before the chain carry no hash: a stream's unhashed prefix verifies
//     as "pre-chain", and the first hashed event after it has no predecessor hash. An
//     unhashed event after a hashed one is never pre-chain.
//   - A chain catches changes inside a stream; a stream rewritten consistently (every hash
//     recomputed) is caught by an anchor: a signed digest over every stream's head at a
//     store position, recorded in its own stream and printable for safekeeping outside.
//   - Verification and export read streams one at a time; memory is bounded by the largest
//     stream plus one small entry per stream.
//   - The Anchorer keeps two heads per stream in memory, or with WithHeadsIn the anchored
//     ones in a database and in memory only those changed since the latest anchor: an
//     anchor's digest, over every head, is then the anchored heads with the changed ones in
//     their place, which is the same digest as long as each anchor lists every head changed
//     since the one before (one Anchorer recording, as the embedded store's data directory
//     ensures). Its database is a copy of what the anchors list, read again from them at
//     each start.
package audit
