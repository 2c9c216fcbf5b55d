package commands_test

import (
	"context"
	"math"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream"
	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/catalog"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/embedded"
)

// countingStore is the embedded store, counting appends.
type countingStore struct {
	*embedded.Store
	appends atomic.Int64
}

func (s *countingStore) Append(ctx context.Context, stream string, expected eventstore.Revision, events []eventstore.Event) (eventstore.AppendResult, error) {
	s.appends.Add(1)
	return s.Store.Append(ctx, stream, expected, events)
}

// countingCatalog is the sample catalog, counting lookups.
type countingCatalog struct {
	*catalog.Catalog
	lookups atomic.Int64
}

func (c *countingCatalog) Product(id string) (commands.Product, bool) {
	c.lookups.Add(1)
	return c.Catalog.Product(id)
}

var _ = Describe("Checkout limits", func() {
	var (
		store    *countingStore
		products *countingCatalog
		meta     = commands.Meta{CorrelationID: "req-limits", Actor: "spec"}
	)

	BeforeEach(func() {
		mem := embedded.OpenMemory()
		DeferCleanup(mem.Close)
		store = &countingStore{Store: mem}
		c, err := catalog.Parse(paystream.SampleCatalog)
		Expect(err).NotTo(HaveOccurred())
		products = &countingCatalog{Catalog: c}
	})

	items := func(n int, productID string, quantity int64) []commands.Item {
		out := make([]commands.Item, n)
		for i := range out {
			out[i] = commands.Item{ProductID: productID, Quantity: quantity}
		}
		return out
	}

	DescribeTable("refuses what is out of bounds, naming the field, recording nothing",
		func(ctx SpecContext, limits aggregate.Limits, req []commands.Item, field string, priced bool) {
			svc := commands.New(commands.Config{Store: store, PSP: nil, Catalog: products, Limits: limits})
			_, err := svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "buyer-1", Items: req, IdempotencyKey: "k-limits"}, meta)
			var ve *aggregate.ValidationError
			Expect(err).To(BeAssignableToTypeOf(ve))
			Expect(err.(*aggregate.ValidationError).Field).To(Equal(field))
			Expect(store.appends.Load()).To(BeZero())
			if !priced {
				Expect(products.lookups.Load()).To(BeZero(), "priced before the bounds were checked")
			}
		},
		Entry("a quantity of 2^40 (1.4×10^24 KRW of keyboards)", aggregate.Limits{},
			[]commands.Item{{ProductID: "keyboard-65", Quantity: 1 << 40}}, "items[0].quantity", false),
		Entry("a quantity of 2^63−1", aggregate.Limits{},
			[]commands.Item{{ProductID: "sticker-pack", Quantity: 1}, {ProductID: "sticker-pack", Quantity: math.MaxInt64}}, "items[1].quantity", false),
		Entry("a zero quantity", aggregate.Limits{}, []commands.Item{{ProductID: "sticker-pack"}}, "items[0].quantity", false),
		Entry("a million lines", aggregate.Limits{}, items(1_000_000, "sticker-pack", 1), "items", false),
		Entry("one line more than configured", aggregate.Limits{MaxLines: 2}, items(3, "sticker-pack", 1), "items", false),
		Entry("one unit more than configured", aggregate.Limits{MaxLineQuantity: 5},
			[]commands.Item{{ProductID: "sticker-pack", Quantity: 6}}, "items[0].quantity", false),
		Entry("a total above the default 10,000,000 KRW", aggregate.Limits{},
			[]commands.Item{{ProductID: "keyboard-65", Quantity: 63}}, "items", true),
		Entry("a total above a configured cap", aggregate.Limits{MaxTotal: decimal.NewFromInt(100_000)},
			[]commands.Item{{ProductID: "book-kia", Quantity: 2}, {ProductID: "book-gopl", Quantity: 1}}, "items", true),
	)

	It("creates a checkout at the configured caps exactly", func(ctx SpecContext) {
		svc := commands.New(commands.Config{Store: store, Catalog: products,
			Limits: aggregate.Limits{MaxLineQuantity: 3, MaxLines: 2, MaxTotal: decimal.NewFromInt(3*36000 + 3*3000)}})
		p, err := svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "buyer-1", Items: []commands.Item{
			{ProductID: "book-kia", Quantity: 3}, {ProductID: "sticker-pack", Quantity: 3}}}, meta)
		Expect(err).NotTo(HaveOccurred())
		Expect(p.TotalAmount).To(Equal(decimal.NewFromInt(117000)))
	})
})
