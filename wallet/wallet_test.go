package wallet_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/kafkamsg"
	"github.com/paystream/paystream/wallet"
)

var _ = Describe("Wallet", func() {
	var w *wallet.Wallet
	BeforeEach(func() { w = wallet.New(wallet.NewMemoryStore()) })

	Context("booking approvals", func() {
		It("credits each seller once per message id", func(ctx SpecContext) {
			a := kafkamsg.Approved{Schema: kafkamsg.SchemaApproved, OrderID: "order-1", SourceEventID: "m1",
				TotalAmount: decimal.NewFromInt(3500), Orders: []kafkamsg.ApprovedOrder{
					{Seq: 1, SellerID: "s1", Amount: decimal.NewFromInt(1000)},
					{Seq: 2, SellerID: "s1", Amount: decimal.NewFromInt(2500)},
				}}
			booked, err := w.Book(ctx, a)
			Expect(err).NotTo(HaveOccurred())
			Expect(booked).To(BeTrue())
			booked, err = w.Book(ctx, a)
			Expect(err).NotTo(HaveOccurred())
			Expect(booked).To(BeFalse())
			bal, err := w.Balance(ctx, "s1")
			Expect(err).NotTo(HaveOccurred())
			Expect(bal.String()).To(Equal("3500"))
			Expect(w.Applied(ctx)).To(Equal(1))
		})

		It("refuses a malformed approval", func(ctx SpecContext) {
			_, err := w.Book(ctx, kafkamsg.Approved{Schema: kafkamsg.SchemaApproved, OrderID: "o"})
			Expect(err).To(MatchError(kafkamsg.ErrMalformed))
		})
	})
})
