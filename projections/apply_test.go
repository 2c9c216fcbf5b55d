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
})
