// Package kafkamsg is the Kafka contract between paystream and its downstream subscribers:
// topic names, the versioned JSON messages on them (payment.approved.v1,
// payment.refunded.v1, payment.refund-allocated.v1 on the approvals topic;
// payment.ledger-updated.v1, payment.wallet-updated.v1, payment.refund-booked.v1 on the
// completion topics) and their headers. It holds no
// client code: how paystream's clients reach the cluster is package kafka, and kafka's
// doc draws the whole Kafka side.
//
// Invariants:
//   - A released schema name is frozen: a changed shape gets a new name (…v2) and decoders
//     keep accepting the old one.
//   - Money is decimal.Decimal serialised as a JSON string; never a float.
//   - An approval's message id is the id of the PspApproved event it reports, so a
//     subscriber that deduplicates by message id books each approval at most once, whatever
//     Kafka redelivers. A completion's message id is derived from the approval's and the
//     subscriber's schema, so a repeated completion is recognisably the same message.
//   - Records are keyed by orderId: one payment stays on one partition, in order — which is
//     why refunds share the approvals' topic: a subscriber never meets a refund before the
//     approval it takes money back from. A refund's message id is the id of the event that
//     reports it, so it too is booked at most once.
package kafkamsg
