// Package kafka is what paystream's Kafka clients share: how they reach the cluster
// (Config: brokers, client options, logger, start-up bound), how a transactional producer
// learns it was replaced (ErrFenced, Fenced), the topics they create (EnsureTopics), how
// they report progress (Progress), how they wait (Sleep, interruptible by the context),
// a tool for reading a partition by position (ReadCommitted), and two for the in-process
// broker's data directory after a crash (RepairIndexes before it opens the directory,
// RecoverCrashed after).
//
// The Kafka side at a glance — one package per role, this one for what they share:
//
//	kafkamsg/               the contract on the wire: topics, versioned JSON messages, headers
//	kafka/                  shared client plumbing (this package)
//	projections/forwarder/  event store → payments.approved, exactly once (transactional producer)
//	booking/                payments.approved → a subscriber's storage (the reference ledger and
//	                        wallet) → its completion topic, exactly once (GroupTransactSession)
//	completion/             completion topics → the payment service (LedgerUpdated, WalletUpdated,
//	                        RefundBooked), at least once, idempotent
//	cmd/paymentd/kafka.go   wiring: the in-process broker, supervision, the progress board
//
// Why one shared package and not one client type: the three roles use the client in
// three different ways (a transactional producer, a group transact session, a plain
// consumer with a DLQ producer), so a common wrapper would hide more than it saves. What
// they do alike — seed brokers, TLS/SASL options, logging, bounded start-up, fencing,
// topic creation — lives here once.
//
// Invariants:
//   - No test hooks: specs fault the roles through real means — a broker that holds or
//     refuses a request (kfake's control functions, see kafkamsg/kafkatest), a second
//     instance that fences the first, a broker killed and restarted with its data
//     directory — and observe them through what they publish and the progress board.
//   - Every wait of a role ends when its context ends (Sleep, bounded start-up, polls),
//     except a transaction's commit under way, which is finished rather than abandoned
//     halfway (it is bounded by the client's own request timeouts).
//   - Everything here is safe for concurrent use.
package kafka
