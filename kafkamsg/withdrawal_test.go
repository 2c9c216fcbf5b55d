package kafkamsg_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/kafkamsg"
)

var _ = Describe("Withdrawal messages", func() {
	withdrawn := func() kafkamsg.Withdrawn {
		return kafkamsg.Withdrawn{Schema: kafkamsg.SchemaDepositWithdrawn, OrderID: "o1", WithdrawalID: "o1-w1", PaymentKey: "pk",
			Amount: decimal.NewFromInt(3000), ApprovalID: "a1", SourceEventID: "e9", Orders: []kafkamsg.RefundedOrder{
				{Seq: 1, SellerID: "s1", Amount: decimal.NewFromInt(1000)}, {Seq: 2, SellerID: "s2", Amount: decimal.NewFromInt(2000)}}}
	}

	It("round-trips payment.deposit-withdrawn.v1 with amounts as decimal strings, and names its schema", func() {
		data, err := withdrawn().Marshal()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(data)).To(And(ContainSubstring(`"amount":"3000"`), ContainSubstring(`"approvalMessageId":"a1"`)))
		Expect(kafkamsg.SchemaOf(data)).To(Equal(kafkamsg.SchemaDepositWithdrawn))
		back, err := kafkamsg.DecodeWithdrawn(data)
		Expect(err).NotTo(HaveOccurred())
		Expect(back.MessageID()).To(Equal("e9"))
		Expect(back).To(Equal(withdrawn()))
	})

	DescribeTable("refuses what breaks the schema's rules",
		func(change func(*kafkamsg.Withdrawn)) {
			w := withdrawn()
			change(&w)
			Expect(w.Validate()).To(MatchError(kafkamsg.ErrMalformed))
			data, _ := w.Marshal()
			_, err := kafkamsg.DecodeWithdrawn(data)
			Expect(err).To(MatchError(kafkamsg.ErrMalformed))
		},
		Entry("another schema", func(w *kafkamsg.Withdrawn) { w.Schema = kafkamsg.SchemaRefunded }),
		Entry("no approval", func(w *kafkamsg.Withdrawn) { w.ApprovalID = "" }),
		Entry("no orders", func(w *kafkamsg.Withdrawn) { w.Orders = nil }),
		Entry("orders that do not add up", func(w *kafkamsg.Withdrawn) { w.Amount = decimal.NewFromInt(1) }),
		Entry("an order without a seller", func(w *kafkamsg.Withdrawn) { w.Orders[0].SellerID = "" }),
	)

	It("derives a stable completion id per withdrawal and subscriber", func() {
		l1, l2 := kafkamsg.NewWithdrawalBooked("ledger", withdrawn()), kafkamsg.NewWithdrawalBooked("ledger", withdrawn())
		w := kafkamsg.NewWithdrawalBooked("wallet", withdrawn())
		Expect(l1.MessageID).To(Equal(l2.MessageID))
		Expect(w.MessageID).NotTo(Equal(l1.MessageID))
		Expect(l1.MessageID).NotTo(Equal(kafkamsg.NewRefundBooked("ledger", kafkamsg.Refunded{SourceEventID: "e9"}).MessageID))
		data, _ := l1.Marshal()
		Expect(kafkamsg.SchemaOf(data)).To(Equal(kafkamsg.SchemaWithdrawalBooked))
		back, err := kafkamsg.DecodeWithdrawalBooked(data)
		Expect(err).NotTo(HaveOccurred())
		Expect(back).To(Equal(l1))
		_, err = kafkamsg.DecodeWithdrawalBooked([]byte(`{"schema":"payment.withdrawal-booked.v1","messageId":"m","orderId":"o","withdrawalId":"w","by":"bank"}`))
		Expect(err).To(MatchError(kafkamsg.ErrMalformed))
	})
})
