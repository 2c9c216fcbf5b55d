package main

import (
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("paymentd recovery end to end", func() {
	It("escalates a payment Toss never answers for; an operator resolves it with actor and reason", func() {
		inst := startPaymentd(map[string]string{"PAYSTREAM_CONFIRM_TIMEOUT": "300ms", "PAYSTREAM_RECOVERY_INTERVAL": "50ms",
			"PAYSTREAM_RECOVERY_EXECUTING_TIMEOUT": "100ms", "PAYSTREAM_RECOVERY_THRESHOLD": "2",
			"PAYSTREAM_RECOVERY_BACKOFF": "50ms", "PAYSTREAM_RECOVERY_BACKOFF_MAX": "100ms"})
		defer func() { Expect(inst.stop()).To(Succeed()) }()
		orderID, paymentKey, amount := checkoutAndAuthorise(inst)
		Expect(call(http.MethodPut, inst.simURL+"/sim/v1/faults", `{"rateTimeout":1}`).status).To(Equal(http.StatusOK))

		conf := call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, paymentKey, amount))
		Expect(conf.status).To(Equal(http.StatusAccepted), "%v", conf.body)
		Expect(conf.body["status"]).To(Equal("UNKNOWN"))

		Eventually(func() []any {
			return call(http.MethodGet, inst.url+"/admin/v1/payments/attention", nil).body["escalated"].([]any)
		}).WithTimeout(10 * time.Second).Should(HaveLen(1))
		state := call(http.MethodGet, inst.url+"/v1/payments/"+orderID, nil)
		Expect(state.body["escalated"]).To(BeTrue())
		Expect(state.body["failedCount"]).To(BeNumerically("==", 2))
		Expect(call(http.MethodGet, inst.url+"/readyz", nil).body["status"]).To(Equal("degraded"))

		// Toss answers again; its record shows the session never confirmed.
		Expect(call(http.MethodPut, inst.simURL+"/sim/v1/faults", `{}`).status).To(Equal(http.StatusOK))
		refused := call(http.MethodPost, inst.url+"/admin/v1/payments/"+orderID+"/resolve",
			`{"resolution":"SUCCESS","actor":"ops:kim","reason":"buyer insists"}`)
		Expect(refused.status).To(Equal(http.StatusConflict), "Toss has no capture: SUCCESS contradicts it")

		resolved := call(http.MethodPost, inst.url+"/admin/v1/payments/"+orderID+"/resolve",
			`{"resolution":"FAILURE","actor":"typed-by-someone","reason":"Toss shows the session unconfirmed"}`)
		Expect(resolved.status).To(Equal(http.StatusOK), "%v", resolved.body)
		Expect(resolved.body["status"]).To(Equal("FAILURE"))

		events := call(http.MethodGet, inst.url+"/v1/payments/"+orderID+"/events", nil).body["events"].([]any)
		last := events[len(events)-1].(map[string]any)
		Expect(last["type"]).To(Equal("payment.manually-resolved.v1"))
		Expect(last["data"]).To(HaveKeyWithValue("actor", "ops:kim"), "the authenticated key's name, whatever the body says")
		Expect(last["metadata"]).To(HaveKeyWithValue("actor", "ops:kim"))
		Expect(last["data"]).To(HaveKeyWithValue("reason", "Toss shows the session unconfirmed"))
		var types []string
		for _, e := range events {
			types = append(types, e.(map[string]any)["type"].(string))
		}
		Expect(types).To(ContainElements("payment.recovery-attempted.v1", "payment.escalated-to-manual.v1"))
	})
})
