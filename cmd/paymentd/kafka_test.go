package main

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/twmb/franz-go/pkg/kgo"

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

	Context("with a data directory and no KAFKA_DATA_DIR", func() {
		It("keeps the broker's records in a scratch directory for the run only", func(ctx SpecContext) {
			dir := GinkgoT().TempDir()
			scratch := filepath.Join(dir, kafkaScratchDir)
			Expect(os.MkdirAll(filepath.Join(scratch, "left-by-a-crash"), 0o750)).To(Succeed())
			inst := startPaymentd(map[string]string{"PAYSTREAM_DATA_DIR": dir})
			Expect(filepath.Join(scratch, "left-by-a-crash")).NotTo(BeADirectory())
			orderID, key, amount := checkoutAndAuthorise(inst)
			res := call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, key, amount))
			Expect(res.status).To(Equal(http.StatusOK), "%v", res.body)

			Eventually(func() any {
				return call(http.MethodGet, inst.url+"/v1/payments/"+orderID, nil).body["isPaymentDone"]
			}).WithContext(ctx).WithTimeout(15 * time.Second).Should(BeTrue())
			Expect(os.ReadDir(scratch)).NotTo(BeEmpty())

			Expect(inst.stop()).To(Succeed())
			Expect(scratch).NotTo(BeAnExistingFile())
			Expect(filepath.Join(dir, "events.log")).To(BeARegularFile())
		})
	})

	Context("with a data directory, the in-process ledger and wallet", func() {
		// books is each seller's line of GET /admin/v1/books: "expected ledger wallet", or
		// with streams false "ledger wallet" (what the two stores hold, whatever the tally
		// has read); and the count of differences.
		books := func(g Gomega, inst instance, streams bool) (map[string]string, any) {
			res := call(http.MethodGet, inst.url+"/admin/v1/books", nil)
			g.Expect(res.status).To(Equal(http.StatusOK))
			lines := map[string]string{}
			for _, l := range res.body["sellers"].([]any) {
				line := l.(map[string]any)
				lines[line["sellerId"].(string)] = line["ledger"].(string) + " " + line["wallet"].(string)
				if streams {
					lines[line["sellerId"].(string)] = line["expected"].(string) + " " + lines[line["sellerId"].(string)]
				}
			}
			return lines, res.body["differences"]
		}

		It("keep their books across a restart, and book the approval the emptied broker delivers again once", func(ctx SpecContext) {
			dir, broker := GinkgoT().TempDir(), freeAddr()
			env := map[string]string{"PAYSTREAM_DATA_DIR": dir, "KAFKA_ADDR": broker}
			inst := startPaymentd(env)
			orderID, key, amount := checkoutAndAuthorise(inst) // book 36000 (seller-1), 2 mugs 25000 (seller-2)
			Expect(call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, key, amount)).status).To(Equal(http.StatusOK))
			want := map[string]string{"seller-1": "36000 36000 36000", "seller-2": "25000 25000 25000"}
			Eventually(func(g Gomega) {
				lines, differences := books(g, inst, true)
				g.Expect(lines).To(Equal(want))
				g.Expect(differences).To(BeEquivalentTo(0))
			}).WithContext(ctx).WithTimeout(20 * time.Second).Should(Succeed())
			Expect(inst.stop()).To(Succeed())
			Expect(filepath.Join(dir, "ledger")).To(BeADirectory())
			Expect(filepath.Join(dir, "wallet")).To(BeADirectory())

			inst = startPaymentd(env)
			DeferCleanup(inst.stop)
			lines, _ := books(Default, inst, false)
			Expect(lines).To(Equal(map[string]string{"seller-1": "36000 36000", "seller-2": "25000 25000"}),
				"booked before the restart, before the broker delivers anything")
			Eventually(func() ([]*kgo.Record, error) {
				return kafkatest.ReadCommitted(ctx, []string{broker}, kafkamsg.TopicLedgerUpdated)
			}).WithContext(ctx).WithTimeout(20*time.Second).ShouldNot(BeEmpty(), "the ledger took the approval delivered again")
			Eventually(func(g Gomega) {
				lines, differences := books(g, inst, true)
				g.Expect(lines).To(Equal(want), "booked once")
				g.Expect(differences).To(BeEquivalentTo(0))
			}).WithContext(ctx).WithTimeout(20 * time.Second).Should(Succeed())
		})
	})

	Context("with a refund, in the embedded default", func() {
		It("books it in the in-process ledger and wallet, records RefundBooked, and the books tie out per seller", func(ctx SpecContext) {
			inst := startPaymentd(nil)
			DeferCleanup(inst.stop)
			orderID, key, amount := checkoutAndAuthorise(inst) // book 36000 (seller-1), 2 mugs 25000 (seller-2)
			Expect(call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, key, amount)).status).To(Equal(http.StatusOK))
			Expect(call(http.MethodPost, inst.url+"/v1/payments/"+orderID+"/cancel", `{"cancelReason":"one mug broke","cancelAmount":12500,
				"orders":[{"seq":2,"amount":12500}]}`, "Idempotency-Key", "refund-"+orderID).status).To(Equal(http.StatusOK))

			Eventually(func(g Gomega) {
				types := map[string]int{}
				for _, e := range historyOf(inst, orderID) {
					types[e.(map[string]any)["type"].(string)]++
				}
				g.Expect(types).To(HaveKeyWithValue("payment.refund-booked.v1", 2), "by the ledger and by the wallet")
				books := call(http.MethodGet, inst.url+"/admin/v1/books", nil)
				g.Expect(books.status).To(Equal(http.StatusOK))
				g.Expect(books.body["differences"]).To(BeEquivalentTo(0), "%v", books.body)
				lines := map[string]string{}
				for _, l := range books.body["sellers"].([]any) {
					line := l.(map[string]any)
					lines[line["sellerId"].(string)] = line["expected"].(string) + " " + line["ledger"].(string) + " " + line["wallet"].(string)
				}
				g.Expect(lines).To(Equal(map[string]string{"seller-1": "36000 36000 36000", "seller-2": "12500 12500 12500"}))
			}).WithContext(ctx).WithTimeout(20 * time.Second).Should(Succeed())
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
