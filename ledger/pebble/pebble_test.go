package pebble_test

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/ledger"
	"github.com/paystream/paystream/ledger/ledgertest"
	"github.com/paystream/paystream/ledger/pebble"
)

// open opens a store in a fresh directory, closed when the spec ends.
func open(dir string) *pebble.Store {
	GinkgoHelper()
	s, err := pebble.Open(dir)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(s.Close)
	return s
}

var _ = ledgertest.Describe("Pebble store", func(context.Context) ledger.Store { return open(GinkgoT().TempDir()) })

var _ = Describe("Pebble store", func() {
	It("keeps what it posted, in order, its balances, taken-back figures and reversals, across a close and an open", func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		s, err := pebble.Open(dir)
		Expect(err).NotTo(HaveOccurred())
		l := ledger.New(s, ledger.WithClock(func() time.Time { return time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) }))
		Expect(l.Book(ctx, ledgertest.Approval("m1"))).To(BeTrue())
		Expect(l.Book(ctx, ledgertest.Approval("m2"))).To(BeTrue())
		Expect(l.BookRefund(ctx, ledgertest.Refund("m1", "r1", "400", 1, "400"))).To(BeTrue())
		_, err = l.Reverse(ctx, "m2", "duplicate")
		Expect(err).NotTo(HaveOccurred())
		txs, balances := must(s.Transactions(ctx)), printed(must(l.Balances(ctx)))
		Expect(s.Close()).To(Succeed())

		s = open(dir)
		l = ledger.New(s)
		Expect(must(s.Transactions(ctx))).To(Equal(txs))
		Expect(printed(must(l.Balances(ctx)))).To(Equal(balances))
		Expect(must(s.TakenBack(ctx, "m1"))[1].String()).To(Equal("400"))
		Expect(l.Book(ctx, ledgertest.Approval("m1"))).To(BeFalse(), "booked before the close")
		_, err = l.Reverse(ctx, "m2", "again")
		Expect(err).To(MatchError(ledger.ErrAlreadyReversed))
		_, err = l.BookRefund(ctx, ledgertest.Refund("m1", "r2", "700", 1, "700"))
		Expect(err).To(MatchError(ledger.ErrOverReversed), "600 of order 1 left")
		Expect(l.Book(ctx, ledgertest.Approval("m3"))).To(BeTrue())
		ids := []string{}
		for _, t := range must(s.Transactions(ctx)) {
			ids = append(ids, t.ID)
		}
		Expect(ids).To(Equal([]string{"m1", "m2", "r1", ledger.ReversalID("m2"), "m3"}), "posting order goes on")
	})

	It("names the directory it cannot open", func() {
		_, err := pebble.Open("/proc/no-such-place/ledger")
		Expect(err).To(MatchError(ContainSubstring("/proc/no-such-place/ledger")))
	})
})

// printed is each balance as "account debits credits".
func printed(balances []ledger.Balance) []string {
	out := make([]string, len(balances))
	for i, b := range balances {
		out[i] = b.Account + " " + b.Debits.String() + " " + b.Credits.String()
	}
	return out
}

// must fails the spec on err and returns v.
func must[T any](v T, err error) T {
	GinkgoHelper()
	Expect(err).NotTo(HaveOccurred())
	return v
}

// go test ./ledger/pebble -run '^$' -bench . -benchtime 40000x
func BenchmarkStore(b *testing.B) {
	ledgertest.Benchmark(b, func() ledger.Store {
		s, err := pebble.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		return s
	}, func(s ledger.Store) error { return s.(*pebble.Store).Close() })
}
