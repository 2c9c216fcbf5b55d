package pebble_test

import (
	"context"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/kafkamsg"
	"github.com/paystream/paystream/wallet"
	"github.com/paystream/paystream/wallet/pebble"
	"github.com/paystream/paystream/wallet/wallettest"
)

// open opens a store in dir, closed when the spec ends.
func open(dir string) *pebble.Store {
	GinkgoHelper()
	s, err := pebble.Open(dir)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(s.Close)
	return s
}

var _ = wallettest.Describe("Pebble store", func(context.Context) wallet.Store { return open(GinkgoT().TempDir()) })

var _ = Describe("Pebble store", func() {
	It("keeps the balances, the messages applied and their count across a close and an open", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		s, err := pebble.Open(dir)
		Expect(err).NotTo(HaveOccurred())
		w := wallet.New(s)
		Expect(w.Book(ctx, wallettest.Approval("m1"))).To(BeTrue())
		Expect(w.Book(ctx, wallettest.Approval("m2"))).To(BeTrue())
		Expect(w.BookRefund(ctx, kafkamsg.Refunded{Schema: kafkamsg.SchemaRefunded, OrderID: "order-m1", RefundID: "refund-r1",
			ApprovalID: "m1", SourceEventID: "r1", Amount: decimal.NewFromInt(300),
			Orders: []kafkamsg.RefundedOrder{{Seq: 2, SellerID: "s2", Amount: decimal.NewFromInt(300)}}})).To(BeTrue())
		Expect(s.Close()).To(Succeed())

		w = wallet.New(open(dir))
		Expect(w.Book(ctx, wallettest.Approval("m1"))).To(BeFalse(), "applied before the close")
		Expect(w.Applied(ctx)).To(Equal(3))
		var got []string
		for _, b := range must(w.Balances(ctx)) {
			got = append(got, b.SellerID+"="+b.Amount.String())
		}
		Expect(got).To(Equal([]string{"s1=7000.5", "s2=300"}))
		Expect(w.Book(ctx, wallettest.Approval("m3"))).To(BeTrue())
		Expect(w.Applied(ctx)).To(Equal(4))
		Expect(must(w.Balance(ctx, "s1")).String()).To(Equal("10500.75"))
	})

	It("names the directory it cannot open", func() {
		_, err := pebble.Open("/proc/no-such-place/wallet")
		Expect(err).To(MatchError(ContainSubstring("/proc/no-such-place/wallet")))
	})
})

// must fails the spec on err and returns v.
func must[T any](v T, err error) T {
	GinkgoHelper()
	Expect(err).NotTo(HaveOccurred())
	return v
}

// go test ./wallet/pebble -run '^$' -bench . -benchtime 40000x
func BenchmarkStore(b *testing.B) {
	wallettest.Benchmark(b, func() wallet.Store {
		s, err := pebble.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		return s
	}, func(s wallet.Store) error { return s.(*pebble.Store).Close() })
}
