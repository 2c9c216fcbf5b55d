package main

import (
	"net"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/kafkamsg"
	"github.com/paystream/paystream/kafkamsg/kafkatest"
)

var _ = Describe("paymentd downstream (embedded Kafka, ledger and wallet)", func() {
	Context("in the embedded default", func() {
		It("publishes the approval once and marks the payment done", func(ctx SpecContext) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			Expect(err).NotTo(HaveOccurred())
			broker := ln.Addr().String()
			Expect(ln.Close()).To(Succeed())
			inst := startPaymentd(map[string]string{"KAFKA_ADDR": broker})
			DeferCleanup(inst.stop)
			orderID, key, amount := checkoutAndAuthorise(inst)
			res := call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, key, amount))
			Expect(res.status).To(Equal(http.StatusOK), "%v", res.body)

			Eventually(func() any {
				return call(http.MethodGet, inst.url+"/v1/payments/"+orderID, nil).body["isPaymentDone"]
			}).WithContext(ctx).WithTimeout(15 * time.Second).Should(BeTrue())

			recs, err := kafkatest.ReadCommitted(ctx, []string{broker}, kafkamsg.TopicApproved)
			Expect(err).NotTo(HaveOccurred())
			Expect(recs).To(HaveLen(1))
			Expect(string(recs[0].Key)).To(Equal(orderID))
		})
	})

	Context("with bad Kafka configuration", func() {
		It("names the variable", func() {
			_, err := LoadConfig(nil, envOf(map[string]string{"KAFKA_BROKERS": "nohost", "KAFKA_APPROVED_TOPIC": "a b"}))
			Expect(err).To(MatchError(And(ContainSubstring("KAFKA_BROKERS"), ContainSubstring("KAFKA_APPROVED_TOPIC"))))
			_, err = LoadConfig(nil, envOf(map[string]string{"KAFKA_ADDR": "9092"}))
			Expect(err).To(MatchError(ContainSubstring("KAFKA_ADDR")))
		})
	})
})
