package projections_test

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/embedded"
	"github.com/paystream/paystream/projections"
	"github.com/paystream/paystream/projections/memory"
	"github.com/paystream/paystream/projections/readmodeltest"
)

// buggyTarget is a memory read model whose Commit panics on any batch holding one order's
// events, as a bug in applying some event would; it counts commits.
type buggyTarget struct {
	*memory.Store
	orderStream string
	commits     atomic.Int32
}

func (b *buggyTarget) Commit(ctx context.Context, from eventstore.Position, events []eventstore.RecordedEvent) (projections.Batch, error) {
	b.commits.Add(1)
	for _, e := range events {
		if e.Stream == b.orderStream {
			panic("bug: cannot apply " + e.Type)
		}
	}
	return b.Store.Commit(ctx, from, events)
}

var _ = Describe("Projector", func() {
	It("parks an event whose commit keeps failing as a dead letter after bounded retries, and stops there", func(ctx SpecContext) {
		es, log := embedded.OpenMemory(), readmodeltest.NewLog()
		DeferCleanup(es.Close)
		var lastGood eventstore.Position
		for _, e := range []eventstore.RecordedEvent{log.Checkout("order-0001", "b", "s"), log.Checkout("order-0002", "b", "s"),
			log.Checkout("order-0003", "b", "s")} {
			res, err := es.Append(ctx, e.Stream, eventstore.NoStream, []eventstore.Event{{ID: e.ID, Type: e.Type, Data: e.Data, Metadata: e.Metadata}})
			Expect(err).NotTo(HaveOccurred())
			if e.Stream != "payment-order-0002" && lastGood == 0 {
				lastGood = res.Position
			}
		}
		target := &buggyTarget{Store: memory.New(), orderStream: "payment-order-0002"}
		p := projections.NewProjector(es, target, projections.Options{Logger: slog.New(slog.DiscardHandler),
			RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond, MaxRejections: 3})
		pctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() { _ = p.Run(pctx) }()

		Eventually(p.Poisoned()).WithContext(ctx).Should(BeClosed())
		Expect(p.Health()).To(MatchError(ContainSubstring("payment-order-0002")))
		dead, err := target.DeadLetters(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(dead).To(HaveLen(1))
		Expect(dead[0].Stream).To(Equal("payment-order-0002"))
		Expect(dead[0].Error).To(ContainSubstring("panic"))
		Expect(target.Checkpoint(ctx)).To(Equal(lastGood), "the event before it is applied")
		_, err = target.Payment(ctx, "order-0003")
		Expect(err).To(MatchError(projections.ErrNotFound), "nothing after it is applied")
		commits := target.commits.Load()
		Consistently(target.commits.Load).WithTimeout(100*time.Millisecond).Should(Equal(commits), "no retry loop once parked")
	})
})
