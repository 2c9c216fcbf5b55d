package main

import (
	"fmt"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("paymentd end to end: a deposit error (embedded default)", func() {
	It("takes a deposit Toss withdrew back from the books, waits, and takes the next deposit as a fresh approval", func(ctx SpecContext) {
		inst := startPaymentd(nil)
		DeferCleanup(inst.stop)

		orderID, paymentKey, amount, conf := confirmVirtualAccount(inst, "buyer-de")

		payment := func() map[string]any { return call(http.MethodGet, inst.url+"/v1/payments/"+orderID, nil).body }
		// tiedOut expects the books to tie out with seller-1 (the book, 36000) and seller-2 (two
		// mugs, 25000) at want (e.g. "36000 25000"), expected = ledger = wallet, and withdrawn
		// as said.
		tiedOut := func(g Gomega, want, withdrawn string) {
			books := call(http.MethodGet, inst.url+"/admin/v1/books", nil)
			g.Expect(books.status).To(Equal(http.StatusOK))
			g.Expect(books.body["differences"]).To(BeEquivalentTo(0), "%v", books.body)
			lines := map[string]string{}
			for _, l := range books.body["sellers"].([]any) {
				line := l.(map[string]any)
				lines[line["sellerId"].(string)] = line["expected"].(string) + "=" + line["ledger"].(string) + "=" + line["wallet"].(string)
			}
			var s1, s2 string
			_, err := fmt.Sscan(want, &s1, &s2)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(lines).To(And(HaveKeyWithValue("seller-1", s1+"="+s1+"="+s1), HaveKeyWithValue("seller-2", s2+"="+s2+"="+s2)))
			g.Expect(books.body["total"]).To(HaveKeyWithValue("withdrawn", withdrawn))
		}
		count := func(types []string, t string) int {
			n := 0
			for _, x := range types {
				if x == t {
					n++
				}
			}
			return n
		}

		// The buyer deposits: SUCCESS, booked downstream, done.
		paid := call(http.MethodPost, inst.simURL+"/sim/v1/payments/"+paymentKey+"/deposit", fmt.Sprintf(`{"amount":%s}`, amount))
		Expect(paid.status).To(Equal(http.StatusOK), "%v", paid.body)
		Eventually(func(g Gomega) {
			g.Expect(payment()).To(And(HaveKeyWithValue("status", "SUCCESS"), HaveKeyWithValue("isPaymentDone", true)))
			tiedOut(g, "36000 25000", "0")
		}).WithContext(ctx).WithTimeout(20 * time.Second).Should(Succeed())
		alerts := metric(inst, "paystream_operator_alerts_total")

		// The deposit fails after DONE: Toss moves the payment back and sends its webhooks.
		failed := call(http.MethodPost, inst.simURL+"/sim/v1/payments/"+paymentKey+"/deposit-error", "")
		Expect(failed.status).To(Equal(http.StatusOK), "%v", failed.body)
		Expect(failed.body["status"]).To(Equal("WAITING_FOR_DEPOSIT"))
		Eventually(func(g Gomega) {
			g.Expect(payment()).To(And(HaveKeyWithValue("status", "WAITING_FOR_DEPOSIT"), HaveKeyWithValue("isPaymentDone", false),
				HaveKeyWithValue("virtualAccount", conf.body["virtualAccount"])))
			types := typesOf(historyOf(inst, orderID))
			g.Expect(count(types, "payment.deposit-withdrawn.v1")).To(Equal(1), "%v", types)
			g.Expect(count(types, "payment.withdrawal-booked.v1")).To(Equal(2), "by the ledger and by the wallet: %v", types)
			tiedOut(g, "0 0", "61000")
		}).WithContext(ctx).WithTimeout(20 * time.Second).Should(Succeed())
		Expect(metric(inst, "paystream_deposits_withdrawn_total")).To(Equal(1))
		Expect(metric(inst, "paystream_operator_alerts_total")).To(BeNumerically(">", alerts), "an operator is told")

		// The buyer deposits again: a fresh approval, booked and done, the books tied out.
		again := call(http.MethodPost, inst.simURL+"/sim/v1/payments/"+paymentKey+"/deposit", fmt.Sprintf(`{"amount":%s}`, amount))
		Expect(again.status).To(Equal(http.StatusOK), "%v", again.body)
		Eventually(func(g Gomega) {
			g.Expect(payment()).To(And(HaveKeyWithValue("status", "SUCCESS"), HaveKeyWithValue("isPaymentDone", true)))
			types := typesOf(historyOf(inst, orderID))
			g.Expect(count(types, "payment.psp-approved.v1")).To(Equal(2), "%v", types)
			g.Expect(count(types, "payment.completed.v1")).To(Equal(2), "%v", types)
			tiedOut(g, "36000 25000", "61000")
		}).WithContext(ctx).WithTimeout(20 * time.Second).Should(Succeed())
		Expect(metric(inst, "paystream_deposits_withdrawn_total")).To(Equal(1))
	})
})
