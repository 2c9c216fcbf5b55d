// Package commands is paystream's application service: it loads a payment's stream, asks
// the aggregate to decide, and appends the result with the exact expected revision.
//
// It owns the ports it needs (EventStore, PSP, Catalog) as small interfaces; adapters in
// other packages satisfy them. Confirm follows DESIGN.md "Confirm, the heart of it":
//
//  1. load; a recorded SUCCESS or FAILURE is answered as recorded, EXECUTING is ErrExecuting;
//  2. validate (amount against the checkout total: a mismatch is recorded as a rejection and
//     the PSP is never called);
//  3. append ExecutionStarted at the loaded revision — the append is the lock, so of many
//     concurrent confirms exactly one reaches the PSP;
//  4. call the PSP with a per-payment Idempotency-Key, retrying transient answers with
//     exponential backoff and full jitter inside the confirm deadline;
//  5. classify the answer with the versioned rule table in classify.go;
//  6. append the outcome. Steps 4–6 run detached from the caller's cancellation (bounded by
//     the confirm timeout), so a client hanging up never loses a charge. A crash between 4
//     and 6 leaves EXECUTING for recovery.
//
// Every appended event has a deterministic id (UUIDv5 of stream, revision and name), so a
// retried append is a no-op, and metadata with correlation id, causation id, actor and
// schema version. Service is safe for concurrent use.
package commands
