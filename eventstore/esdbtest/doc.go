// Package esdbtest is an in-process EventStoreDB emulator for tests: a gRPC server built on
// the v4 Go client's own generated server interfaces (protos/streams, serverfeatures,
// gossip, shared) that speaks the real protocol to the real client
// (github.com/EventStore/EventStore-Client-Go/v4). No EventStoreDB can run on the machines
// paystream is tested on; this is how the esdb adapter is exercised. It is not a database:
// everything lives in memory, one process, one node.
//
// What it implements, because the v4.2.0 client uses it:
//   - Streams/Append (client streaming): expected revision any | no_stream | stream_exists |
//     revision N, wrong expected version as a normal AppendResp (never a gRPC error), and
//     server-side idempotence: an append whose event ids are exactly the events already
//     recorded right after the expected revision (all of them, or a leading part of what
//     was written) succeeds without writing and reports the original revision and position.
//   - Streams/Read: stream reads forwards and backwards, $all reads, catch-up and live
//     subscriptions to a stream and to $all, stream-name and event-type filters by prefix
//     or regex, checkpoints for filtered $all subscriptions.
//   - Streams/Delete (soft delete) and Streams/Tombstone.
//   - ServerFeatures/GetSupportedMethods and Gossip/Read (one leader node: itself), so that
//     esdb+discover:// connection strings work.
//
// Invariants (the framing rules of ../../../shared/notes/eventstoredb.md; the client
// crashes or misbehaves otherwise):
//   - Every recorded event carries the system metadata type, content-type and created
//     (decimal 100-ns ticks since the Unix epoch).
//   - A plain read sends only event messages, or a single stream_not_found, then ends.
//   - A subscription sends confirmation first, then events, caught_up once when it reaches
//     the end of what is stored, and (filtered $all only) checkpoints.
//   - Reading from a revision or position is inclusive; subscribing from one is exclusive.
//   - Positions are byte-offset-like: strictly increasing in commit order with gaps, above
//     zero, commit == prepare for every event (each event of an append has its own).
//   - A deleted (tombstoned) stream answers with a gRPC error and the trailers
//     exception: stream-deleted, stream-name: <name>.
//   - The server tolerates the client's 10 s keepalive pings (EnforcementPolicy MinTime 1 s,
//     PermitWithoutStream).
//
// Fault injection, safe to call from any goroutine: DropConnections closes every client
// connection (the server keeps listening); SetUnavailable(true) answers every call with
// codes.Unavailable and ends running subscriptions with it; Restart stops the server and
// starts it again on the same address, keeping the data.
//
// Not implemented: BatchAppend (v4.2.0 never calls it), persistent subscriptions,
// projections, users and ACLs, TLS, maximum append size, resolving link events, and
// fell_behind for slow subscribers (a slow subscriber simply reads further behind).
package esdbtest
