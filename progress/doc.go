// Package progress tells whether paystream's followers are keeping up. A follower is a loop
// that follows a log and must never silently stop: the read-model projector and the Kafka
// forwarder follow the event store; the completion consumer and the reference ledger and
// wallet follow Kafka topics.
//
// Each follower gets a Tracker from a Board and reports on it: Advanced when it has made
// progress to a position, Beat when its loop is alive with nothing to do (caught up, or
// between batches), Failed when an attempt failed and will be retried, Stopped when its
// run ended. The Board turns the reports into a verdict per follower that readiness
// (GET /readyz) and /metrics show.
//
// Invariants:
//   - A follower is stalled when its run stopped with an error, when it has not beaten for
//     the Board's stall time (a loop blocked anywhere, start-up included: registration
//     counts as its first beat), or when it has work pending (its head is past its
//     position, at every report and beat) for the stall time without advancing. Stalled
//     is never sticky: the next report that shows the follower alive clears it.
//   - Reports never block and never fail: a follower pays a mutex per report.
//   - Board and Tracker are safe for concurrent use.
package progress
