package projections_test

import (
	"encoding/json"
	"time"

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
			Expect(got.Position).To(Equal(events[len(events)-1].Position))
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
	)

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
