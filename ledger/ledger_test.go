package ledger_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/kafkamsg"
	"github.com/paystream/paystream/ledger"
)

func approval(id string) kafkamsg.Approved {
	return kafkamsg.Approved{Schema: kafkamsg.SchemaApproved, OrderID: "order-" + id, SourceEventID: id,
		TotalAmount: decimal.NewFromInt(3000), Orders: []kafkamsg.ApprovedOrder{
			{Seq: 1, SellerID: "s1", Amount: decimal.NewFromInt(1000)},
			{Seq: 2, SellerID: "s2", Amount: decimal.NewFromInt(2000)},
		}}
}

var _ = Describe("Ledger", func() {
	var l *ledger.Ledger
	BeforeEach(func() { l = ledger.New(ledger.NewMemoryStore()) })

	Context("booking an approval", func() {
		It("debits the PSP receivable and credits each seller, balanced", func(ctx SpecContext) {
			booked, err := l.Book(ctx, approval("m1"))
			Expect(err).NotTo(HaveOccurred())
			Expect(booked).To(BeTrue())
			rec, _ := l.Balance(ctx, ledger.AccountPSPReceivable)
			Expect(rec.Debits.String()).To(Equal("3000"))
			s2, _ := l.Balance(ctx, ledger.SellerPayable("s2"))
			Expect(s2.Credits.String()).To(Equal("2000"))
			Expect(s2.Net().String()).To(Equal("-2000"))
			txs, _ := l.Transactions(ctx)
			Expect(txs).To(HaveLen(1))
			Expect(txs[0].Balanced()).To(BeTrue())
		})

		It("books a redelivered approval once", func(ctx SpecContext) {
			_, _ = l.Book(ctx, approval("m1"))
			booked, err := l.Book(ctx, approval("m1"))
			Expect(err).NotTo(HaveOccurred())
			Expect(booked).To(BeFalse())
			txs, _ := l.Transactions(ctx)
			Expect(txs).To(HaveLen(1))
		})

		It("refuses an approval whose orders do not add up", func(ctx SpecContext) {
			a := approval("m1")
			a.TotalAmount = decimal.NewFromInt(1)
			_, err := l.Book(ctx, a)
			Expect(err).To(MatchError(kafkamsg.ErrMalformed))
		})
	})

	Context("correcting", func() {
		It("reverses with a mirror transaction, once, leaving the original untouched", func(ctx SpecContext) {
			_, _ = l.Book(ctx, approval("m1"))
			rev, err := l.Reverse(ctx, "m1", "duplicate capture")
			Expect(err).NotTo(HaveOccurred())
			Expect(rev.Reverses).To(Equal("m1"))
			Expect(rev.Balanced()).To(BeTrue())
			for _, b := range must(l.Balances(ctx)) {
				Expect(b.Net().IsZero()).To(BeTrue(), b.Account)
			}
			txs, _ := l.Transactions(ctx)
			Expect(txs).To(HaveLen(2))
			Expect(txs[0].Entries[0].Side).To(Equal(ledger.Debit))

			_, err = l.Reverse(ctx, "m1", "again")
			Expect(err).To(MatchError(ledger.ErrAlreadyReversed))
			_, err = l.Reverse(ctx, rev.ID, "reverse the reversal")
			Expect(err).To(MatchError(ledger.ErrAlreadyReversed))
			_, err = l.Reverse(ctx, "nope", "x")
			Expect(err).To(MatchError(ledger.ErrNotFound))
		})

		It("never posts an unbalanced transaction", func(ctx SpecContext) {
			_, err := ledger.NewMemoryStore().Post(ctx, ledger.Transaction{ID: "x", Entries: []ledger.Entry{
				{Account: "a", Side: ledger.Debit, Amount: decimal.NewFromInt(1)}}})
			Expect(err).To(MatchError(ledger.ErrUnbalanced))
		})
	})
})

func must[T any](v T, err error) T {
	Expect(err).NotTo(HaveOccurred())
	return v
}
