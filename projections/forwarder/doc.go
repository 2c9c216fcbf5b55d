// Package forwarder publishes every PspApproved of the event store to Kafka, exactly once
// (and every ManuallyResolved that settled a payment as SUCCESS, which books the same way),
// and every refund the PSP made (RefundApproved, RefundManuallyResolved as SUCCESS,
// ExternalRefundRecorded: payment.refunded.v1) and every allocation of an unallocated one
// (RefundAllocated: payment.refund-allocated.v1). Refunds share the approvals' topic and
// key, because only one partition orders them after the approval they take money back from:
// a topic of their own could deliver a refund to the ledger before its approval.
//
// It follows the payment streams from a checkpoint and, per approval, publishes one
// payment.approved.v1 message (kafkamsg.Approved, key = orderId, headers event-type,
// event-id, correlation-id) to payments.approved. The order lines come from folding the
// payment's stream up to the approval, so the message describes the payment as approved:
// the events Follow delivered, folded as they come until the payment gives a message (a
// bounded number of payments at a time); the stream is read for a message that comes later
// (a refund), and for a payment whose earlier events precede the checkpoint.
//
// Invariants:
//   - Exactly once into Kafka: approvals are produced by a transactional producer, and the
//     checkpoint (the store position of the last event covered) is a record on the compacted
//     checkpoint topic written in the same transaction. A crash before the commit aborts
//     both; on start the forwarder first fences any previous producer with its transactional
//     id (which aborts that producer's open transaction) and then reads the last committed
//     checkpoint, read-committed. Readers of payments.approved must read committed.
//   - Several approvals share one transaction (up to the batch size): whatever arrived while
//     the previous transaction committed.
//   - One active forwarder per name: a second instance with the same transactional id fences
//     the first, whose Run returns an error wrapping kafka.ErrFenced and publishes nothing
//     more.
package forwarder
