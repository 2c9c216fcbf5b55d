package kafkamsg_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/paystream/paystream/kafkamsg"
)

var _ = Describe("Refund messages", func() {
	refunded := func() kafkamsg.Refunded {
		return kafkamsg.Refunded{Schema: kafkamsg.SchemaRefunded, OrderID: "o1", RefundID: "o1-r1", Amount: decimal.NewFromInt(3000),
			ApprovalID: "a1", SourceEventID: "e9", Orders: []kafkamsg.RefundedOrder{
				{Seq: 1, SellerID: "s1", Amount: decimal.NewFromInt(1000)}, {Seq: 2, SellerID: "s2", Amount: decimal.NewFromInt(2000)}}}
	}

	It("round-trips payment.refunded.v1 with amounts as decimal strings, and names its schema", func() {
		data, err := refunded().Marshal()
		Expect(err).NotTo(HaveOccurred())
		Expect(string(data)).To(ContainSubstring(`"amount":"3000"`))
		Expect(kafkamsg.SchemaOf(data)).To(Equal(kafkamsg.SchemaRefunded))
		back, err := kafkamsg.DecodeRefunded(data)
		Expect(err).NotTo(HaveOccurred())
		Expect(back.MessageID()).To(Equal("e9"))
		Expect(back.Allocated()).To(BeTrue())
	})

	It("tells a record's schema by its header, or by its value when it has none", func() {
		data, err := refunded().Marshal()
		Expect(err).NotTo(HaveOccurred())
		Expect(kafkamsg.RecordSchema(&kgo.Record{Value: data})).To(Equal(kafkamsg.SchemaRefunded))
		Expect(kafkamsg.RecordSchema(&kgo.Record{Value: data, Headers: []kgo.RecordHeader{{Key: "other", Value: []byte("x")},
			{Key: kafkamsg.HeaderSchema, Value: []byte(kafkamsg.SchemaRefundAllocated)}}})).To(Equal(kafkamsg.SchemaRefundAllocated))
		Expect(kafkamsg.RecordSchema(&kgo.Record{Value: []byte("not json")})).To(BeEmpty())
	})

	It("accepts an unallocated refund, but no unallocated allocation, and orders that do not add up", func() {
		r := refunded()
		r.Orders = nil
		Expect(r.Validate()).To(Succeed())
		r.Schema = kafkamsg.SchemaRefundAllocated
		Expect(r.Validate()).To(MatchError(kafkamsg.ErrMalformed))
		r = refunded()
		r.Amount = decimal.NewFromInt(1)
		Expect(r.Validate()).To(MatchError(kafkamsg.ErrMalformed))
		_, err := kafkamsg.DecodeRefunded([]byte(`{"schema":"payment.approved.v1"}`))
		Expect(err).To(MatchError(kafkamsg.ErrMalformed))
	})

	It("derives a stable refund completion id per refund message and subscriber", func() {
		l1, l2 := kafkamsg.NewRefundBooked("ledger", refunded()), kafkamsg.NewRefundBooked("ledger", refunded())
		w := kafkamsg.NewRefundBooked("wallet", refunded())
		Expect(l1.MessageID).To(Equal(l2.MessageID))
		Expect(w.MessageID).NotTo(Equal(l1.MessageID))
		data, _ := l1.Marshal()
		back, err := kafkamsg.DecodeRefundBooked(data)
		Expect(err).NotTo(HaveOccurred())
		Expect(back).To(Equal(l1))
		_, err = kafkamsg.DecodeRefundBooked([]byte(`{"schema":"payment.refund-booked.v1","messageId":"m","orderId":"o","refundId":"r","by":"bank"}`))
		Expect(err).To(MatchError(kafkamsg.ErrMalformed))
	})
})
