package commands_test

import (
	"context"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream"
	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/catalog"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/embedded"
)

// ambiguousStore answers the first append of each payment stream with
// eventstore.ErrOutcomeUnknown, having written it (write, then the reply is lost) or not.
type ambiguousStore struct {
	*embedded.Store
	write   bool
	tripped atomic.Bool
}

func (s *ambiguousStore) Append(ctx context.Context, stream string, expected eventstore.Revision, events []eventstore.Event) (eventstore.AppendResult, error) {
	if _, ok := aggregate.OrderIDOf(stream); !ok || !s.tripped.CompareAndSwap(false, true) {
		return s.Store.Append(ctx, stream, expected, events)
	}
	if s.write {
		if _, err := s.Store.Append(ctx, stream, expected, events); err != nil {
			return eventstore.AppendResult{}, err
		}
	}
	return eventstore.AppendResult{}, eventstore.ErrOutcomeUnknown
}

var _ = Describe("an append whose outcome the store cannot tell", func() {
	DescribeTable("is settled by reading the stream, never assumed",
		func(ctx SpecContext, write bool) {
			store := &ambiguousStore{Store: embedded.OpenMemory(), write: write}
			DeferCleanup(store.Close)
			products, err := catalog.Parse(paystream.SampleCatalog)
			Expect(err).NotTo(HaveOccurred())
			svc := commands.New(commands.Config{Store: store, Catalog: products})
			p, err := svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "buyer-1",
				Items: []commands.Item{{ProductID: "book-kia", Quantity: 1}}}, commands.Meta{Actor: "spec"})
			Expect(err).NotTo(HaveOccurred())
			Expect(store.tripped.Load()).To(BeTrue())
			history, err := svc.Events(ctx, p.OrderID)
			Expect(err).NotTo(HaveOccurred())
			Expect(history).To(HaveLen(1), "recorded exactly once")
			Expect(p.Revision).To(Equal(history[0].Revision))
			Expect(p.Position).To(Equal(history[0].Position))
		},
		Entry("when it landed and the reply was lost", true),
		Entry("when it never landed", false),
	)
})
