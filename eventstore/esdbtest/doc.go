// Package esdbtest is an in-process EventStoreDB emulator for tests: a gRPC server built on
// the v4 Go client's own generated server interfaces (protos/streams, serverfeatures,
// gossip, shared) that speaks the real protocol to the real client
// (github.com/EventStore/EventStore-Client-Go/v4). No EventStoreDB can run on the machines
// paystream is tested on; this is how the esdb adapter is exercised. It is not a database:
// everything lives in memory, one process, one node or a cluster of nodes sharing it.
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
//   - ServerFeatures/GetSupportedMethods and Gossip/Read (itself as leader, or its
//     cluster), so that esdb+discover:// and multi-host connection strings work.
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
// Real-server behaviours, after EventStoreDB's own source (EventStore/EventStore v24.10.4,
// kurrent-io/KurrentDB v24.10.5, v25.0.0, v25.0.1):
//   - Options.ServerVersion selects the filtered $all checkpoints of that version:
//     24.2.0–24.10.4 send (MaxUint64, MaxUint64) at the end of a catch-up from the start that
//     matched nothing (KDB-710); 25.0.0 sends (end of log, 0) when going live (KDB-744);
//     other versions send checkpoints at the last record scanned. The default version is
//     DefaultVersion (24.10.5).
//   - Appends over Options.MaxAppendSize (1 MiB; data + custom metadata + 2 × type length)
//     are InvalidArgument with the trailers exception: maximum-append-size-exceeded.
//   - SetReplicationDelay: writes become visible only once replicated; an append waits for
//     it and after Options.CommitTimeout answers Aborted (the write still lands); a retry of
//     the same ids before replication is refused the same way (IdempotentNotReady).
//   - LoseAppendReplies: the next appends land and are answered with an error instead.
//   - StartCluster: nodes sharing one database; gossip lists them (leader, followers, dead
//     nodes); a follower serves reads and forwards writes, and answers requires-leader with
//     NotLeader (NotFound + not-leader trailers naming the leader); KillLeader stops the
//     leader, the survivors answer "Server Is Not Ready" (Unavailable) until the next
//     leader is elected. SetNotReady does the same on one node; SetStalled makes a node
//     accept calls and never answer (a client discovering it waits its gossip timeout).
//   - Options.Users/Admins/TLS: access control over TLS with a throwaway certificate:
//     unknown credentials are Unauthenticated, $all needs an admin (PermissionDenied).
//   - Requests records every call with its headers, requires-leader and user, so specs can
//     assert what the client sent; LiveSubscriptions counts caught-up subscriptions.
//
// Fault injection, safe to call from any goroutine: DropConnections closes every client
// connection (the server keeps listening); SetUnavailable(true) answers every call with
// codes.Unavailable and ends running subscriptions with it; SetSubscriptionsDown does that
// to subscriptions only; Restart stops the server and starts it again on the same address,
// keeping the data.
//
// Not implemented: BatchAppend (v4.2.0 never calls it), persistent subscriptions,
// projections, stream ACLs beyond $all, resolving link events, stale reads on followers
// (followers share the leader's committed data), and fell_behind for slow subscribers (a
// slow subscriber simply reads further behind).
package esdbtest
