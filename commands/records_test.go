package commands_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/audit"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/embedded"
)

var _ = Describe("AppendRecords", func() {
	var (
		store *embedded.Store
		svc   *commands.Service
		meta  = commands.Meta{CorrelationID: "run-1", Actor: "reconciler"}
	)
	BeforeEach(func() {
		store = embedded.OpenMemory()
		DeferCleanup(store.Close)
		svc = commands.New(commands.Config{Store: store})
	})
	records := func(names ...string) []commands.Record {
		out := make([]commands.Record, len(names))
		for i, n := range names {
			out[i] = commands.Record{Name: n, Data: []byte(`{"n":"` + n + `"}`)}
		}
		return out
	}

	It("chains the records like every event, with the actor, at the exact revision", func(ctx SpecContext) {
		_, err := svc.AppendRecords(ctx, "reconciliation-x-1", eventstore.NoStream, records("a.v1", "b.v1"), "run-1", meta)
		Expect(err).NotTo(HaveOccurred())
		_, err = svc.AppendRecords(ctx, "reconciliation-x-1", 1, records("c.v1"), "run-1", meta)
		Expect(err).NotTo(HaveOccurred())
		_, err = svc.AppendRecords(ctx, "reconciliation-x-1", 1, records("d.v1"), "run-1", meta)
		Expect(err).To(MatchError(eventstore.ErrConcurrency))
		got, err := store.ReadStream(ctx, "reconciliation-x-1")
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(HaveLen(3))
		Expect(string(got[2].Metadata)).To(ContainSubstring(`"actor":"reconciler"`))
		rep := audit.VerifyStream("reconciliation-x-1", got, nil)
		Expect(rep.Intact).To(BeTrue(), "%+v", rep.Findings)
		Expect(rep.PreChain).To(BeZero())
	})

	It("gives the same records under the same key the same ids, so a repeat is no duplicate", func(ctx SpecContext) {
		first, err := svc.AppendRecords(ctx, "reconciliation-x-2", eventstore.NoStream, records("a.v1"), "run-2", meta)
		Expect(err).NotTo(HaveOccurred())
		again, err := svc.AppendRecords(ctx, "reconciliation-x-2", eventstore.NoStream, records("a.v1"), "run-2", meta)
		Expect(err).NotTo(HaveOccurred())
		Expect(again.Revision).To(Equal(first.Revision))
		got, err := store.ReadStream(ctx, "reconciliation-x-2")
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(HaveLen(1))
	})

	It("refuses payment streams, which change only through the decider", func(ctx SpecContext) {
		_, err := svc.AppendRecords(ctx, "payment-order-1", eventstore.NoStream, records("a.v1"), "k", meta)
		Expect(err).To(MatchError(ContainSubstring("a payment stream")))
	})
})
