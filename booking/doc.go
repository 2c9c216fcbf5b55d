// Package booking runs a downstream subscriber (the reference ledger or wallet) on Kafka:
// it consumes payments.approved read-committed, books each approval in the subscriber's own
// storage, and publishes the subscriber's completion message (payment.ledger-updated.v1 or
// payment.wallet-updated.v1), with the consumed offsets committed in the same Kafka
// transaction as the completions (kgo.GroupTransactSession).
//
// Invariants:
//   - Offsets advance only together with the completions of the records they cover: a
//     consumer killed mid-transaction leaves neither, and the records are consumed again.
//   - The Booker is idempotent by message id, so a record consumed again books nothing new;
//     its completion is published again and the payment service ignores the repeat.
//   - A malformed approval is parked on the DLQ topic in the same transaction, with the
//     error in a header, and logged; it never stops the consumer.
//   - Two instances with the same transactional id: the newer fences the older, whose Run
//     returns an error wrapping kafka.ErrFenced.
package booking
