// Package commands is paystream's application service: it loads a payment's stream, asks
// the aggregate to decide, and appends the result with the exact expected revision.
//
// Where things are:
//   - repository.go: the one write mechanism. update loads a payment, runs a decision (a
//     closure over the command) and appends what it decides at the revision it loaded,
//     reloading and deciding again when another writer got there first; updateOnce is one
//     round of it, for recovery's claim, where losing the race is the answer. Load is the
//     one fold of a recorded stream (aggregate.EvolveStored per event). The payments used
//     last are kept folded (cache.go) at the revision they were folded at: a command decides
//     on one without reading, its append at that revision is the check (a failed append
//     forgets it; a decision that appends nothing is made again on the stream as read), and
//     Load reads the stream and decodes only what followed that revision.
//   - checkout.go, confirm.go, recovery.go (and worker.go, its loop), resolve.go (operators,
//     expiry), downstream.go (ledger and wallet completions), webhook.go (Toss's hints),
//     idempotency.go (a client's Idempotency-Key names one request).
//   - ports.go: the small interfaces the service needs — EventStore, Catalog, and PSP, in
//     paystream's own terms. The Toss adapter (toss.PSP) classifies Toss's answers with its
//     versioned rule tables; the rules a payment follows (open, due for recovery, expired)
//     are the aggregate's.
//
// Confirm follows DESIGN.md "Confirm, the heart of it", as two updates around the PSP call:
//
//  1. load; a recorded SUCCESS or FAILURE is answered as recorded, EXECUTING is ErrExecuting;
//  2. validate (amount against the checkout total: a mismatch is recorded as a rejection and
//     the PSP is never called; a checkout past its window is recorded as expired);
//  3. append ExecutionStarted at the loaded revision — the append is the lock, so of many
//     concurrent confirms exactly one reaches the PSP;
//  4. call the PSP with a per-payment Idempotency-Key, retrying answers the PSP adapter calls
//     retryable with exponential backoff and full jitter inside the confirm deadline, and
//     settling answers only a lookup can tell by the PSP's record;
//  5. append the outcome. Steps 4–5 run detached from the caller's cancellation (bounded by
//     the confirm timeout), so a client hanging up never loses a charge. A crash between 4
//     and 5 leaves EXECUTING for recovery.
//
// Every appended event carries metadata (correlation id, causation id, command id, actor,
// schema version) and a deterministic id: UUIDv5 of stream, revision, event name and the id
// of the command invocation. What those ids protect: an append the store could not confirm
// (eventstore.ErrOutcomeUnknown) is settled by reading the stream — our ids right after the
// expected revision mean it landed; otherwise the command decides again, and if it decides
// the same events it sends the same ids, which the store treats as a no-op should the
// first attempt land late. They do not make two invocations of a command idempotent: each
// has its own command id, so of two concurrent confirms one fails with ErrConcurrency and
// decides again from the other's events. Service is safe for concurrent use.
package commands
