package kafkamsg_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/kafkamsg"
)

var _ = Describe("Messages", func() {
	Context("payment.approved.v1", func() {
		It("round-trips with amounts as decimal strings", func() {
			data := []byte(`{"schema":"payment.approved.v1","orderId":"o1","paymentKey":"pk","approvedAt":"2026-01-02T03:04:05Z",
				"totalAmount":"15000","buyerId":"b","orders":[{"seq":1,"sellerId":"s","productId":"p","amount":"15000"}],
				"sourceEventId":"e1","sourcePosition":7}`)
			a, err := kafkamsg.DecodeApproved(data)
			Expect(err).NotTo(HaveOccurred())
			Expect(a.MessageID()).To(Equal("e1"))
			out, err := a.Marshal()
			Expect(err).NotTo(HaveOccurred())
			Expect(string(out)).To(ContainSubstring(`"totalAmount":"15000"`))
		})

		It("rejects garbage and broken rules as malformed", func() {
			for _, data := range []string{`nope`, `{"schema":"payment.approved.v2"}`,
				`{"schema":"payment.approved.v1","orderId":"o","sourceEventId":"e","totalAmount":"2","orders":[{"seq":1,"sellerId":"s","amount":"1"}]}`} {
				_, err := kafkamsg.DecodeApproved([]byte(data))
				Expect(err).To(MatchError(kafkamsg.ErrMalformed), data)
			}
		})
	})

	Context("completions", func() {
		It("derive a stable message id per approval and schema", func() {
			a := kafkamsg.Approved{OrderID: "o1", SourceEventID: "e1", Orders: []kafkamsg.ApprovedOrder{{Seq: 1}, {Seq: 2}}}
			l1, l2 := kafkamsg.NewCompletion(kafkamsg.SchemaLedgerUpdated, a), kafkamsg.NewCompletion(kafkamsg.SchemaLedgerUpdated, a)
			w := kafkamsg.NewCompletion(kafkamsg.SchemaWalletUpdated, a)
			Expect(l1.MessageID).To(Equal(l2.MessageID))
			Expect(w.MessageID).NotTo(Equal(l1.MessageID))
			Expect(l1.Orders).To(Equal([]int{1, 2}))
			data, _ := l1.Marshal()
			back, err := kafkamsg.DecodeCompletion(data)
			Expect(err).NotTo(HaveOccurred())
			Expect(back).To(Equal(l1))
		})

		It("rejects unknown schemas and missing fields as malformed", func() {
			for _, data := range []string{`{`, `{"schema":"x","messageId":"m","orderId":"o","orders":[1]}`,
				`{"schema":"payment.wallet-updated.v1","messageId":"m","orderId":"o","orders":[]}`} {
				_, err := kafkamsg.DecodeCompletion([]byte(data))
				Expect(err).To(MatchError(kafkamsg.ErrMalformed), data)
			}
		})
	})
})
