package projections_test

import (
	"testing"
	"time"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/projections"
	"github.com/paystream/paystream/projections/readmodeltest"
)

// decodeAll decodes recorded events for aggregate.Fold.
func decodeAll(recorded []eventstore.RecordedEvent) []aggregate.Event {
	GinkgoHelper()
	var out []aggregate.Event
	for _, r := range recorded {
		e, err := aggregate.Decode(r.Type, r.Data)
		Expect(err).NotTo(HaveOccurred())
		out = append(out, e)
	}
	return out
}

var _ = Describe("Apply", func() {
	var log *readmodeltest.Log
	BeforeEach(func() { log = readmodeltest.NewLog() })

	DescribeTable("rows equal the aggregate's folded State, written out",
		func(build func(id string) []eventstore.RecordedEvent) {
			events := build("order-0001")
			got, _, err := projections.Project(events)
			Expect(err).NotTo(HaveOccurred())
			want := projections.RowOf(aggregate.Fold(decodeAll(events)))
			want.Revision, want.Position, want.Evidence = got.Revision, got.Position, got.Evidence
			Expect(*got).To(Equal(want))
			Expect(got.Revision).To(BeEquivalentTo(len(events) - 1))
			folded, shown := aggregate.Fold(decodeAll(events)), projections.StateOf(*got)
			Expect(shown.Outcome).To(Equal(folded.Outcome), "the API shows the outcome the stream recorded")
			Expect(shown.Refunds).To(HaveLen(len(folded.Refunds)))
			for i, r := range folded.Refunds {
				Expect(shown.Refunds[i].Outcome).To(Equal(r.Outcome), "refund %s", r.ID)
			}
			Expect(got.Position).To(Equal(events[len(events)-1].Position))
			if folded.VirtualAccount == nil {
				Expect(shown.VirtualAccount).To(BeNil())
			} else {
				va := *folded.VirtualAccount
				Expect(va.SecretHash).NotTo(BeEmpty())
				va.SecretHash, va.DueDate = "", va.DueDate.UTC().Truncate(time.Microsecond)
				Expect(shown.VirtualAccount).To(Equal(&va), "the account the API shows, without its secret's hash")
				for _, at := range []time.Time{folded.VirtualAccount.DueDate, va.DueDate.Add(-time.Microsecond), va.DueDate.Add(time.Microsecond)} {
					Expect(shown.DepositOverdue(at)).To(Equal(folded.DepositOverdue(at)), "overdue at %s", at)
				}
			}
		},
		Entry("approved", func(id string) []eventstore.RecordedEvent {
			return []eventstore.RecordedEvent{log.Checkout(id, "b", "s1", "s2"), log.Started(id, 6000), log.Approved(id, 6000)}
		}),
		Entry("failed", func(id string) []eventstore.RecordedEvent {
			return []eventstore.RecordedEvent{log.Checkout(id, "b", "s1"), log.Started(id, 2000), log.Failed(id)}
		}),
		Entry("recovered, escalated, resolved by hand, booked and completed", func(id string) []eventstore.RecordedEvent {
			at := func() time.Time { return log.Now() }
			return []eventstore.RecordedEvent{log.Checkout(id, "b", "s1", "s2"), log.Started(id, 6000), log.Unknown(id),
				log.Event(id, aggregate.RecoveryAttempted{Attempt: 1, Threshold: 5, Reason: "unknown", At: at()}),
				log.Unknown(id),
				log.Event(id, aggregate.EscalatedToManual{Attempts: 5, Reason: "threshold", At: at()}),
				log.Event(id, aggregate.ManuallyResolved{Resolution: aggregate.StatusSuccess, Actor: "ops@shop", Reason: "toss says DONE",
					Evidence: json.RawMessage(`{"status":"DONE"}`), At: at()}),
				log.Event(id, aggregate.LedgerUpdated{Orders: []int{1, 2}, MessageID: "m1", At: at()}),
				log.Event(id, aggregate.WalletUpdated{Orders: []int{1, 2}, MessageID: "m2", At: at()}),
				log.Event(id, aggregate.PaymentCompleted{At: at()})}
		}),
		Entry("refunded in part, booked, then in full", func(id string) []eventstore.RecordedEvent {
			return append(log.Paid(id, "b", "s1", "s2"), log.RefundRequested(id, "r1", 1500, readmodeltest.Split(2, 1500)),
				log.RefundApproved(id, "r1"), log.RefundBooked(id, "r1", "ledger"), log.RefundBooked(id, "r1", "wallet"),
				log.RefundRequested(id, "r2", 4500, readmodeltest.Split(1, 2000), readmodeltest.Split(2, 2500)),
				log.RefundApproved(id, "r2"))
		}),
		Entry("a refund refused", func(id string) []eventstore.RecordedEvent {
			return append(log.Paid(id, "b", "s1", "s2"), log.RefundRequested(id, "r1", 2000, readmodeltest.Split(1, 2000)),
				log.RefundFailed(id, "r1"))
		}),
		Entry("a refund executing, claimed by recovery", func(id string) []eventstore.RecordedEvent {
			return append(log.Paid(id, "b", "s1"), log.RefundRequested(id, "r1", 2000, readmodeltest.Split(1, 2000)),
				log.RefundRecovery(id, "r1", 1))
		}),
		Entry("a refund unknown, recovered, escalated and resolved by hand", func(id string) []eventstore.RecordedEvent {
			return append(log.Paid(id, "b", "s1", "s2"), log.RefundRequested(id, "r1", 1000, readmodeltest.Split(1, 1000)),
				log.RefundUnknown(id, "r1"), log.RefundRecovery(id, "r1", 1), log.RefundUnknown(id, "r1"),
				log.RefundEscalated(id, "r1"), log.RefundResolved(id, "r1", aggregate.StatusSuccess))
		}),
		Entry("a refund escalated, and another resolved as not refunded", func(id string) []eventstore.RecordedEvent {
			return append(log.Paid(id, "b", "s1", "s2"), log.RefundRequested(id, "r1", 1000, readmodeltest.Split(1, 1000)),
				log.RefundUnknown(id, "r1"), log.RefundResolved(id, "r1", aggregate.StatusFailure),
				log.RefundRequested(id, "r2", 3000, readmodeltest.Split(2, 3000)), log.RefundUnknown(id, "r2"),
				log.RefundEscalated(id, "r2"))
		}),
		Entry("cancelled at Toss: unallocated, then allocated by an operator, and booked", func(id string) []eventstore.RecordedEvent {
			return append(log.Paid(id, "b", "s1", "s2"), log.ExternalRefund(id, "x1", 3000),
				log.RefundAllocated(id, "x1", readmodeltest.Split(1, 1000), readmodeltest.Split(2, 2000)),
				log.RefundBooked(id, "x1", "wallet"), log.RefundBooked(id, "x1", "ledger"))
		}),
		Entry("a virtual account waiting for the deposit", func(id string) []eventstore.RecordedEvent {
			return []eventstore.RecordedEvent{log.Checkout(id, "b", "s1", "s2"), log.Started(id, 6000), log.AwaitedNow(id, 6000)}
		}),
		Entry("a virtual account deposited, booked and completed", func(id string) []eventstore.RecordedEvent {
			return []eventstore.RecordedEvent{log.Checkout(id, "b", "s1", "s2"), log.Started(id, 6000), log.AwaitedNow(id, 6000),
				log.Deposited(id, 6000), log.Ledger(id, 1, 2), log.Wallet(id, 1, 2), log.Completed(id)}
		}),
		Entry("a virtual account expired at its due date", func(id string) []eventstore.RecordedEvent {
			due := log.Now().Add(2 * time.Second)
			return []eventstore.RecordedEvent{log.Checkout(id, "b", "s1"), log.Started(id, 2000), log.Awaited(id, 2000, due),
				log.DepositExpired(id, due)}
		}),
		Entry("a virtual account closed before the deposit", func(id string) []eventstore.RecordedEvent {
			return []eventstore.RecordedEvent{log.Checkout(id, "b", "s1"), log.Started(id, 2000), log.AwaitedNow(id, 2000),
				log.AccountClosed(id)}
		}),
		Entry("a virtual account deposited and completed, the deposit withdrawn by Toss, taken back downstream", func(id string) []eventstore.RecordedEvent {
			events := []eventstore.RecordedEvent{log.Checkout(id, "b", "s1", "s2"), log.Started(id, 6000), log.AwaitedNow(id, 6000),
				log.Deposited(id, 6000), log.Ledger(id, 1, 2), log.Wallet(id, 1, 2), log.Completed(id)}
			return append(events, log.DepositWithdrawn(id, 1, log.Now(), time.Time{}, readmodeltest.Split(1, 2000), readmodeltest.Split(2, 4000)),
				log.WithdrawalBooked(id, 1, "ledger"), log.WithdrawalBooked(id, 1, "wallet"))
		}),
		Entry("withdrawn with a new due date, deposited again and completed", func(id string) []eventstore.RecordedEvent {
			events := []eventstore.RecordedEvent{log.Checkout(id, "b", "s1", "s2"), log.Started(id, 6000), log.AwaitedNow(id, 6000),
				log.Deposited(id, 6000), log.Ledger(id, 1, 2)}
			return append(events, log.DepositWithdrawn(id, 1, log.Now(), log.Now().Add(48*time.Hour), readmodeltest.Split(1, 2000),
				readmodeltest.Split(2, 4000)), log.WithdrawalBooked(id, 1, "ledger"), log.Deposited(id, 6000), log.Ledger(id, 1, 2),
				log.Wallet(id, 1, 2), log.Completed(id))
		}),
		Entry("withdrawn, and expired at the due date without a second deposit", func(id string) []eventstore.RecordedEvent {
			due := log.Now().Add(2 * time.Second)
			return []eventstore.RecordedEvent{log.Checkout(id, "b", "s1"), log.Started(id, 2000), log.Awaited(id, 2000, due),
				log.Deposited(id, 2000), log.DepositWithdrawn(id, 1, log.Now(), time.Time{}, readmodeltest.Split(1, 2000)),
				log.DepositExpired(id, due)}
		}),
		Entry("cancelled in full at Toss", func(id string) []eventstore.RecordedEvent {
			return append(log.Paid(id, "b", "s1", "s2"),
				log.ExternalRefund(id, "x1", 6000, readmodeltest.Split(1, 2000), readmodeltest.Split(2, 4000)))
		}),
	)

	It("shows a deposit withdrawn by Toss: waiting again, not approved, not done, nothing booked, and the history says why", func() {
		id := "order-0013"
		events := []eventstore.RecordedEvent{log.Checkout(id, "b", "s1", "s2"), log.Started(id, 6000), log.AwaitedNow(id, 6000),
			log.Deposited(id, 6000), log.Ledger(id, 1, 2), log.Wallet(id, 1, 2), log.Completed(id)}
		done, _, err := projections.Project(events)
		Expect(err).NotTo(HaveOccurred())
		due := done.VirtualAccount.DueDate.Add(24 * time.Hour)
		events = append(events, log.DepositWithdrawn(id, 1, *done.ApprovedAt, due, readmodeltest.Split(1, 2000), readmodeltest.Split(2, 4000)))
		got, history, err := projections.Project(events)
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(And(HaveField("Status", aggregate.StatusWaitingForDeposit), HaveField("ApprovedAt", BeNil()),
			HaveField("IsPaymentDone", false), HaveField("CompletedAt", BeNil()),
			HaveField("OutcomeStatus", aggregate.StatusWaitingForDeposit), HaveField("OutcomeRule", aggregate.RuleDepositWithdrawn),
			HaveField("OutcomeCode", aggregate.CodeDepositWithdrawn), HaveField("Evidence", MatchJSON(`{"status":"WAITING_FOR_DEPOSIT"}`))))
		Expect(got.VirtualAccount.DueDate).To(Equal(due), "the due date Toss's record shows now")
		for _, o := range got.Orders {
			Expect(o).To(And(HaveField("Status", aggregate.StatusWaitingForDeposit), HaveField("LedgerUpdated", false),
				HaveField("WalletUpdated", false)))
		}
		s := projections.StateOf(*got)
		Expect(s.WaitingForDeposit()).To(BeTrue())
		Expect(s.DepositOverdue(due)).To(BeTrue(), "the due-date check lists it again")
		last := history[len(history)-2:]
		for i, h := range last {
			Expect(h).To(And(HaveField("Seq", i+1), HaveField("Previous", aggregate.StatusSuccess),
				HaveField("New", aggregate.StatusWaitingForDeposit), HaveField("Reason", aggregate.RuleDepositWithdrawn+"/"+aggregate.CodeDepositWithdrawn)))
		}
	})

	It("shows refunds as the aggregate does: status, balance, refunded amounts and the cancels", func() {
		id := "order-0010"
		events := append(log.Paid(id, "b", "s1", "s2"), log.RefundRequested(id, "r1", 1500, readmodeltest.Split(2, 1500)),
			log.RefundApproved(id, "r1"), log.ExternalRefund(id, "x1", 500))
		got, _, err := projections.Project(events)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Status).To(Equal(aggregate.StatusPartialCanceled))
		s := projections.StateOf(*got)
		Expect(s.RefundedAmount.String()).To(Equal("2000"))
		Expect(s.BalanceAmount().String()).To(Equal("4000"))
		Expect(s.Orders[0].Status).To(Equal(aggregate.StatusSuccess), "the external 500 is not allocated to an order")
		Expect(s.Orders[1].Status).To(Equal(aggregate.StatusPartialCanceled))
		Expect(s.Orders[1].Refunded.String()).To(Equal("1500"))
		Expect(s.Refunds).To(HaveLen(2))
		Expect(s.Refunds[0]).To(And(HaveField("ID", "r1"), HaveField("Status", aggregate.StatusSuccess),
			HaveField("TransactionKey", "tx-r1"), HaveField("Orders", HaveLen(1)), HaveField("Outcome.Rule", "toss.cancel.v1/done")))
		Expect(s.Refunds[1]).To(And(HaveField("ID", "x1"), HaveField("External", true), HaveField("FoundBy", "webhook"),
			HaveField("Orders", BeNil())))
	})

	It("records the order status changes refunds make, with the refund's rule and the operator", func() {
		id := "order-0011"
		events := append(log.Paid(id, "b", "s1", "s2"), log.RefundRequested(id, "r1", 1000, readmodeltest.Split(2, 1000)),
			log.RefundApproved(id, "r1"), log.RefundRequested(id, "r2", 2000, readmodeltest.Split(1, 2000)), log.RefundUnknown(id, "r2"),
			log.RefundResolved(id, "r2", aggregate.StatusSuccess))
		_, history, err := projections.Project(events)
		Expect(err).NotTo(HaveOccurred())
		Expect(history).To(HaveLen(8)) // 2 orders × (created, executing, success) + one per refund
		Expect(history[6]).To(And(HaveField("Seq", 2), HaveField("Previous", aggregate.StatusSuccess),
			HaveField("New", aggregate.StatusPartialCanceled), HaveField("Reason", "toss.cancel.v1/done"), HaveField("Actor", "spec")))
		Expect(history[7]).To(And(HaveField("Seq", 1), HaveField("Previous", aggregate.StatusSuccess),
			HaveField("New", aggregate.StatusCanceled), HaveField("Reason", "manual.v1/resolved"), HaveField("Actor", "ops@shop")))
	})

	It("tells refunds that differ from their events apart (Verify's diff)", func() {
		id := "order-0012"
		events := append(log.Paid(id, "b", "s1", "s2"), log.RefundRequested(id, "r1", 1000, readmodeltest.Split(2, 1000)),
			log.RefundApproved(id, "r1"))
		row, history, err := projections.Project(events)
		Expect(err).NotTo(HaveOccurred())
		Expect(projections.Diff(events, row, history)).To(BeEmpty())
		stale, _, err := projections.Project(events[:len(events)-1])
		Expect(err).NotTo(HaveOccurred())
		stale.Revision, stale.Position, stale.Status, stale.UpdatedAt = row.Revision, row.Position, row.Status, row.UpdatedAt
		stale.Orders, stale.RefundedAmount = row.Orders, row.RefundedAmount
		Expect(projections.Diff(events, stale, history)).To(ConsistOf(ContainSubstring("refund[r1]: want order-0012 1 1000 [2:1000]")))
	})

	It("records each order's status changes with reason and actor", func() {
		events := []eventstore.RecordedEvent{log.Checkout("order-0002", "b", "s1"), log.Started("order-0002", 2000), log.Failed("order-0002"),
			log.Event("order-0002", aggregate.ManuallyResolved{Resolution: aggregate.StatusSuccess, Actor: "ops@shop", Reason: "r", At: log.Now()})}
		_, history, err := projections.Project(events)
		Expect(err).NotTo(HaveOccurred())
		Expect(history).To(HaveLen(4))
		Expect(history[0]).To(And(HaveField("Previous", aggregate.Status("")), HaveField("New", aggregate.StatusNotStarted)))
		Expect(history[2]).To(And(HaveField("New", aggregate.StatusFailure), HaveField("Reason", "toss.v1/card-rejected/REJECT_CARD_PAYMENT")))
		Expect(history[3]).To(And(HaveField("Previous", aggregate.StatusFailure), HaveField("Actor", "ops@shop"),
			HaveField("Reason", "manual.v1/resolved")))
	})

	It("refuses an unknown event type, an event before the checkout, and a revision gap", func() {
		_, _, err := projections.Apply(nil, log.Raw("order-0003", "payment.nope.v1", []byte(`{}`)))
		Expect(err).To(MatchError(aggregate.ErrUnknownEvent))
		_, _, err = projections.Apply(nil, log.Started("order-0004", 1))
		Expect(err).To(MatchError(ContainSubstring("does not have")))
		p, _, err := projections.Apply(nil, log.Checkout("order-0005", "b", "s1"))
		Expect(err).NotTo(HaveOccurred())
		log.Started("order-0005", 2000)
		_, _, err = projections.Apply(&p, log.Failed("order-0005"))
		Expect(err).To(MatchError(ContainSubstring("does not follow")))
	})

	Context("when a batch holds several events of the same payment", func() {
		It("yields the rows of applying them one batch each, and of aggregate.Fold, once per payment", func() {
			events := log.Interleaved(20, 5, 3)
			together := map[string]*projections.Payment{}
			b := projections.ApplyBatch(together, 0, events)
			Expect(b.Poison).To(BeNil())
			Expect(b.Applied).To(Equal(len(events)))
			Expect(b.Checkpoint).To(Equal(events[len(events)-1].Position))
			Expect(b.Changed).To(HaveLen(20), "each payment's final rows once")
			Expect(b.Before).To(HaveLen(20))
			Expect(b.Before).To(HaveEach(BeNil()), "all created in this batch")

			apart := map[string]*projections.Payment{}
			var cp eventstore.Position
			var history []projections.History
			for _, e := range events {
				one := projections.ApplyBatch(apart, cp, []eventstore.RecordedEvent{e})
				Expect(one.Poison).To(BeNil())
				cp, history = one.Checkpoint, append(history, one.History...)
			}
			Expect(together).To(Equal(apart))
			Expect(b.History).To(Equal(history), "one history row per status change, in order")
			for _, p := range b.Changed {
				var stream []eventstore.RecordedEvent
				for _, e := range events {
					if projections.OrderIDOf(e.Stream) == p.OrderID {
						stream = append(stream, e)
					}
				}
				want := projections.RowOf(aggregate.Fold(decodeAll(stream)))
				want.Revision, want.Position, want.Evidence = p.Revision, p.Position, p.Evidence
				Expect(*p).To(Equal(want))
			}
		})

		It("keeps the rows before the batch, and reports only the orders that changed", func() {
			first := []eventstore.RecordedEvent{log.Checkout("order-0006", "b", "s1", "s2"), log.Started("order-0006", 6000),
				log.Approved("order-0006", 6000)}
			rows := map[string]*projections.Payment{}
			b1 := projections.ApplyBatch(rows, 0, first)
			ins, upd := projections.OrderChanges(b1.Before[0], b1.Changed[0])
			Expect(ins).To(HaveLen(2))
			Expect(upd).To(BeEmpty())

			b2 := projections.ApplyBatch(rows, b1.Checkpoint, []eventstore.RecordedEvent{log.Ledger("order-0006", 2), log.Completed("order-0006")})
			Expect(b2.Before[0]).To(BeIdenticalTo(b1.Changed[0]), "the rows before the batch are not modified")
			Expect(b2.Before[0].Orders[1].LedgerUpdated).To(BeFalse())
			ins, upd = projections.OrderChanges(b2.Before[0], b2.Changed[0])
			Expect(ins).To(BeEmpty())
			Expect(upd).To(ConsistOf(HaveField("Seq", 2)), "order 1 did not change and is not rewritten")
		})

		It("ignores events the checkpoint covers", func() {
			events := log.Interleaved(3, 3, 9)
			rows := map[string]*projections.Payment{}
			b := projections.ApplyBatch(rows, 0, events)
			again := projections.ApplyBatch(rows, b.Checkpoint, events)
			Expect(again.Applied).To(BeZero())
			Expect(again.Changed).To(BeEmpty())
			Expect(again.History).To(BeEmpty())
			Expect(again.Checkpoint).To(Equal(b.Checkpoint))
		})
	})
})

// BenchmarkApplyBatch: one batch of 64 payments whole lives, 16 at a time.
func BenchmarkApplyBatch(b *testing.B) {
	events := readmodeltest.NewLog().Interleaved(64, 16, 1)
	for b.Loop() {
		projections.ApplyBatch(map[string]*projections.Payment{}, 0, events)
	}
}
