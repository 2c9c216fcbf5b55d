package audit_test

import (
	"context"
	"crypto/ed25519"
	"fmt"

	"github.com/cockroachdb/pebble"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/audit"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/embedded"
	"github.com/paystream/paystream/eventstore/storetest"
	"github.com/paystream/paystream/localkv"
)

var _ = Describe("Anchorer", func() {
	for _, kind := range []string{"in memory", "in Pebble"} {
		Context("with the heads "+kind, func() {
			var (
				store  *embedded.Store
				dir    string
				orders []string
				last   eventstore.Position
			)
			BeforeEach(func() {
				store, dir, orders, last = embedded.OpenMemory(), GinkgoT().TempDir(), nil, 0
				DeferCleanup(store.Close)
			})
			// open returns an Anchorer over store as paymentd starts one; close is its stop.
			open := func() (an *audit.Anchorer, close func()) {
				GinkgoHelper()
				var opts []audit.AnchorerOption
				if kind == "in Pebble" {
					db, err := localkv.Open(dir)
					Expect(err).NotTo(HaveOccurred())
					opts = append(opts, audit.WithHeadsIn(db))
				}
				an = audit.NewAnchorer(written{Store: store, last: &last}, key, nil, opts...)
				return an, func() {
					GinkgoHelper()
					Expect(an.Close()).To(Succeed())
					_, err := an.HeadOf(context.Background(), "payment-order-0001")
					Expect(err).To(MatchError(audit.ErrAnchorerClosed))
				}
			}
			// write appends n events to the i-th payment's stream.
			write := func(ctx context.Context, i, n int) {
				GinkgoHelper()
				order := fmt.Sprintf("order-%04d", i)
				from := eventstore.NoStream
				if es := must(store.ReadStream(ctx, "payment-"+order)); len(es) > 0 {
					from = es[len(es)-1].Revision
				} else {
					orders = append(orders, order)
				}
				last = must(appendChained(ctx, store, order, from, n)).Position
			}
			// record follows what was written and records an anchor.
			record := func(ctx context.Context, an *audit.Anchorer) audit.Anchor {
				GinkgoHelper()
				Expect(an.Follow(ctx)).To(MatchError(storetest.ErrCaughtUp))
				got, ok, err := an.Record(ctx)
				Expect(err).NotTo(HaveOccurred())
				Expect(ok).To(BeTrue())
				Expect(got.Check(key.Public().(ed25519.PublicKey))).To(Succeed())
				return got
			}
			// streamsOf lists an anchor's heads' streams.
			streamsOf := func(an audit.Anchor) []string {
				var out []string
				for _, h := range an.Heads {
					out = append(out, h.Stream)
				}
				return out
			}

			It("signs a digest over every head and lists those changed since the previous anchor", func(ctx SpecContext) {
				for i := range 5 {
					write(ctx, i, 3)
				}
				an, stop := open()
				defer stop()
				first := record(ctx, an)
				Expect(first.Digest).To(Equal(audit.Digest(must(heads(ctx, store, orders)))))
				Expect([]any{first.Sequence, first.Streams, len(first.Heads), first.Position}).To(Equal([]any{int64(1), 5, 5, uint64(last)}))

				write(ctx, 3, 2)
				write(ctx, 1, 1)
				write(ctx, 7, 4)
				second := record(ctx, an)
				Expect(second.Digest).To(Equal(audit.Digest(must(heads(ctx, store, orders)))))
				Expect(second.Streams).To(Equal(6))
				Expect(streamsOf(second)).To(Equal([]string{"payment-order-0001", "payment-order-0003", "payment-order-0007"}))
				Expect(second.Previous).NotTo(BeEmpty())
				Expect(must(an.HeadOf(ctx, "payment-order-0003"))).To(Equal(&audit.Head{Revision: 4,
					Hash: must(heads(ctx, store, orders))["payment-order-0003"].Hash}))
				Expect(must(an.HeadOf(ctx, "payment-order-0002"))).To(Equal(&audit.Head{Revision: 2,
					Hash: must(heads(ctx, store, orders))["payment-order-0002"].Hash}))
				Expect(must(an.HeadOf(ctx, "payment-order-0099"))).To(BeNil())

				_, ok, err := an.Record(ctx)
				Expect(err).NotTo(HaveOccurred())
				Expect(ok).To(BeFalse(), "nothing changed")
				Expect(must(an.Latest(ctx)).Digest).To(Equal(second.Digest))
			})

			It("goes on after a restart: the next anchor's digest covers every head, and the heads anchored before stay", func(ctx SpecContext) {
				for i := range 4 {
					write(ctx, i, 2)
				}
				an, stop := open()
				record(ctx, an)
				stop()

				write(ctx, 2, 3)
				write(ctx, 5, 1)
				an, stop = open()
				defer stop()
				Expect(must(an.HeadOf(ctx, "payment-order-0001")).Revision).To(BeEquivalentTo(1), "anchored before the restart")
				again := record(ctx, an)
				Expect(again.Digest).To(Equal(audit.Digest(must(heads(ctx, store, orders)))))
				Expect([]any{again.Sequence, again.Streams}).To(Equal([]any{int64(2), 5}))
				if kind == "in Pebble" {
					Expect(streamsOf(again)).To(Equal([]string{"payment-order-0002", "payment-order-0005"}), "followed from the first anchor's position")
				} else {
					Expect(again.Heads).To(HaveLen(5), "followed from the start")
				}
				Expect(must(an.HeadOf(ctx, "payment-order-0002")).Revision).To(BeEquivalentTo(4))
			})
		})
	}

	It("with the heads in Pebble, reads the anchored heads again from the anchors when its database lost them", func(ctx SpecContext) {
		store := embedded.OpenMemory()
		DeferCleanup(store.Close)
		var last eventstore.Position
		for i := range 3 {
			last = must(appendChained(ctx, store, fmt.Sprintf("order-%04d", i), eventstore.NoStream, 2)).Position
		}
		an := audit.NewAnchorer(storetest.UpTo{Store: store, Last: last}, key, nil)
		Expect(an.Follow(ctx)).To(MatchError(storetest.ErrCaughtUp))
		Expect(an.Record(ctx)).Error().NotTo(HaveOccurred())

		db, err := localkv.Open(GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
		Expect(db.Set([]byte("hpayment-order-0009"), []byte("not a head"), pebble.NoSync)).To(Succeed())
		an = audit.NewAnchorer(storetest.UpTo{Store: store, Last: last}, key, nil, audit.WithHeadsIn(db))
		DeferCleanup(an.Close)
		Expect(must(an.HeadOf(ctx, "payment-order-0001")).Revision).To(BeEquivalentTo(1))
		Expect(must(an.HeadOf(ctx, "payment-order-0009"))).To(BeNil(), "what the anchors do not list is gone")
	})
})

// written is a store whose Follow ends with storetest.ErrCaughtUp at *last: whatever was written when
// it is called.
type written struct {
	eventstore.Store
	last *eventstore.Position
}

func (w written) Follow(ctx context.Context, after eventstore.Position, prefix string, handle eventstore.Handler) error {
	return storetest.UpTo{Store: w.Store, Last: *w.last}.Follow(ctx, after, prefix, handle)
}

// must fails the spec on err and returns v.
func must[T any](v T, err error) T {
	GinkgoHelper()
	Expect(err).NotTo(HaveOccurred())
	return v
}
