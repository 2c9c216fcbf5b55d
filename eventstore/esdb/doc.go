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
//     resubscribes from the last position it delivered (or the last checkpoint the server
//     sent) whenever the subscription drops: dropped connections, an unavailable server, a
//     server restart. Within one Follow call no event is delivered twice or skipped:
//     anything at or below the last delivered position is ignored.
//   - The client closes itself for good when discovery fails (server down at the first
//     call after a reconnect); the Store then replaces it with a fresh client. Operations
//     other than Follow do not retry beyond that: they fail with the client's error,
//     wrapped with the operation, and the next call reconnects.
//
// A Store is safe for concurrent use. Close releases the client; afterwards every
// operation fails with eventstore.ErrClosed.
package esdb
