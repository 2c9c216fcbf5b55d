// Package completion closes the payment loop: it consumes the ledger's and the wallet's
// completion messages (payments.ledger-updated, payments.wallet-updated) and records them as
// LedgerUpdated / WalletUpdated through the payment service, which appends PaymentCompleted
// once every order has both; a refund's completion (payment.refund-booked.v1, on the same
// topics) is recorded as RefundBooked.
//
// Invariants:
//   - At least once in, exactly once in effect: offsets are committed after the service
//     recorded the records they cover, and the aggregate ignores repeats, so duplicated or
//     reordered completions change nothing.
//   - A message that can never be recorded (malformed JSON, unknown schema, unknown or
//     unapproved payment, an order or a refund the payment lacks) is parked: logged, copied to the DLQ
//     topic with the error in a header, kept in Parked, and its offset committed. Nothing
//     else stops.
//   - Any other failure (event store unavailable, contention) is retried with backoff, in
//     order, without committing past it.
//   - One payment's records (one key) are recorded in the order fetched; different payments
//     concurrently (up to 64 at once), so that their appends share fsyncs.
package completion
