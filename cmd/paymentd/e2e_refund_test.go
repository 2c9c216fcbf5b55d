package main

import (
	"net/http"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("paymentd refunds end to end (embedded default)", func() {
	It("refunds a two-seller payment in part, then in full, once per request however often it is sent", func() {
		inst := startPaymentd(nil)
		DeferCleanup(inst.stop)
		orderID, key, amount := checkoutAndAuthorise(inst) // book 36000 (seller-1), 2 mugs 25000 (seller-2)
		Expect(call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, key, amount)).status).To(Equal(http.StatusOK))

		partial := `{"cancelReason":"one mug broke","cancelAmount":12500,"orders":[{"seq":2,"amount":12500}]}`
		var wg sync.WaitGroup
		statuses := make([]int, 10)
		for i := range statuses {
			wg.Go(func() {
				defer GinkgoRecover()
				statuses[i] = call(http.MethodPost, inst.url+"/v1/payments/"+orderID+"/cancel", partial, "Idempotency-Key", "refund-"+orderID).status
			})
		}
		wg.Wait()
		for _, s := range statuses {
			Expect(s).To(BeElementOf(http.StatusOK, http.StatusConflict), "the same request: recorded once, the others answered or told to retry")
		}
		got := call(http.MethodPost, inst.url+"/v1/payments/"+orderID+"/cancel", partial, "Idempotency-Key", "refund-"+orderID)
		Expect(got.status).To(Equal(http.StatusOK))
		Expect(got.body["status"]).To(Equal("PARTIAL_CANCELED"))
		Expect(got.body["balanceAmount"]).To(Equal("48500"))
		Expect(got.body["cancels"]).To(HaveLen(1), "one refund whatever the retries")
		refund := got.body["cancels"].([]any)[0].(map[string]any)
		Expect(refund["status"]).To(Equal("SUCCESS"))
		Expect(refund["transactionKey"]).NotTo(BeEmpty())

		Expect(call(http.MethodPost, inst.url+"/v1/payments/"+orderID+"/cancel", `{"cancelReason":"r","cancelAmount":48501}`).status).
			To(Equal(http.StatusUnprocessableEntity), "above the balance")

		Eventually(func() int {
			return call(http.MethodPost, inst.url+"/v1/payments/"+orderID+"/cancel", `{"cancelReason":"returned"}`, "Idempotency-Key", "refund-all-"+orderID).status
		}).Should(Equal(http.StatusOK), "Toss refuses a second cancel within a second of the first")
		state := call(http.MethodGet, inst.url+"/v1/payments/"+orderID, nil)
		Expect(state.body["status"]).To(Equal("CANCELED"))
		Expect(state.body["balanceAmount"]).To(Equal("0"))
		for _, o := range state.body["orders"].([]any) {
			order := o.(map[string]any)
			Expect(order["refundedAmount"]).To(Equal(order["amount"]))
		}
		types := typesOf(historyOf(inst, orderID))
		Expect(types).To(ContainElements("payment.refund-requested.v1", "payment.refund-approved.v1"))
	})
})
