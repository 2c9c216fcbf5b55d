// Package esdb is the EventStoreDB adapter of the event store seam: an eventstore.Store on
// top of the v4 Go client (github.com/EventStore/EventStore-Client-Go/v4). It is the
// production store; tests run it against the in-process emulator in ../esdbtest and,
// when EVENTSTORE_URL is set, against a real server, with the same conformance suite as
// the embedded store.
//
// Connection strings are the client's: esdb://host:2113?tls=false for an insecure node,
// esdb://user:pass@host:2113 (TLS, the default) for a secure one, esdb+discover://… for a
// cluster found by gossip. Only the insecure forms can be exercised on the machines this
// is tested on (the emulator has no TLS); the TLS forms are parsed and passed to the client
// unchanged.
//
// Mapping (invariants on top of package eventstore):
//   - A paystream stream is an EventStoreDB stream of the same name. Revision N is
//     stream revision N; expected NoStream is esdb.NoStream{}, expected N is
//     esdb.Revision(N) — never Any, so every append is an optimistic-concurrency check.
//   - Position is the event's $all commit position, which the adapter relies on being
//     distinct per event, strictly increasing in commit order and above zero (each event
//     of an append has its own log position, commit == prepare; the conformance suite
//     checks this whenever it runs against a real server). Following after position p subscribes to $all from
//     esdb.Position{Commit: p, Prepare: p}, which the server treats as exclusive.
//   - Event ids pass through unchanged, so the server deduplicates a retried append; the
//     data is sent as application/json; our metadata JSON (correlation, causation, actor,
//     schema version) is the event's custom metadata, byte for byte. RecordedAt is the
//     server's created timestamp (100-ns ticks), in UTC.
//   - A wrong expected version becomes eventstore.ErrConcurrency, unless the events after
//     the expected revision are exactly the ones being appended (same ids, same order):
//     then the append was a retry and reports the original result, as the seam requires.
//   - Follow uses a server-side stream-name prefix filter (an empty prefix is every
//     non-system stream, regex ^[^$]), skips system events (types starting with $), and
//     resubscribes whenever the subscription drops: dropped connections, an unavailable
//     server, a server restart, a leader election. It keeps full (commit, prepare)
//     positions. Only delivered events decide what was delivered (an event at or below the
//     last delivered position is a repeat); checkpoints only choose where to resubscribe,
//     and only plausible ones (commit == prepare, not MaxUint64, ahead of what was
//     delivered): servers 24.2.0–24.10.4 send (-1,-1) read as MaxUint64 (KDB-710) and
//     25.0.0 sends (end of log, 0) (KDB-744). On those versions Open warns and checkpoints
//     are ignored altogether. Within one Follow call no event is delivered twice or skipped.
//     A user that may not read $all ends Follow (and Open) with ErrAccessDenied.
//   - Every call carries requires-leader: true (the v4 client's own option never reaches
//     the server), so a follower answers NotLeader naming the leader; the client reconnects
//     there and the adapter retries the call, a few times. Open reads $all once, so that a
//     user who may not fails at start, and warns when a connection string carries
//     credentials without TLS (the client drops them).
//   - Appends are checked by eventstore.ValidateAppend (nil event ids included: the client
//     would replace them with random ones, defeating the server's deduplication) and
//     against the server's 1 MiB limit before anything is sent. An attempt without a
//     definite answer (Aborted commit timeout, DeadlineExceeded, Unavailable or a context
//     ending mid-call, a retry refused because the original is not yet replicated) is
//     retried with the same ids and expected revision, up to 5 attempts while the context
//     lasts; if none is definite the append fails with eventstore.ErrOutcomeUnknown.
//   - The client closes itself for good when discovery fails (server down at the first
//     call after a reconnect); the Store then replaces it with a fresh client. Every call
//     runs on its own goroutine and returns when its context ends, even when the client
//     does not (it may block ignoring its context while it rediscovers, or for ever once
//     rediscovery failed); such a client is retired and never closed.
//
// A Store is safe for concurrent use. Close releases the client; afterwards every
// operation fails with eventstore.ErrClosed.
package esdb
