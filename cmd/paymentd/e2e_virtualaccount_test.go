package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// metric reads one un-labelled sample from paymentd's /metrics.
func metric(inst instance, name string) int {
	GinkgoHelper()
	req, err := http.NewRequest(http.MethodGet, inst.url+"/metrics", nil)
	Expect(err).NotTo(HaveOccurred())
	authorize(req)
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	m := regexp.MustCompile(`(?m)^` + name + ` ([0-9]+)$`).FindSubmatch(body)
	Expect(m).NotTo(BeNil(), "%s on /metrics", name)
	n, err := strconv.Atoi(string(m[1]))
	Expect(err).NotTo(HaveOccurred())
	return n
}

// tossWebhook posts a webhook to paymentd as Toss sends it: no API key, a transmission id.
func tossWebhook(inst instance, transmissionID, body string) {
	GinkgoHelper()
	req, err := http.NewRequest(http.MethodPost, inst.url+"/v1/webhooks/toss", strings.NewReader(body))
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Tosspayments-Webhook-Transmission-Id", transmissionID)
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	Expect(resp.StatusCode).To(Equal(http.StatusOK), "Toss's webhooks are answered 200")
}

// confirmVirtualAccount checks out two lines for buyerID, has the buyer choose a virtual
// account at the simulator and confirms: the payment waits for the deposit.
func confirmVirtualAccount(inst instance, buyerID string) (orderID, paymentKey, amount string, conf answer) {
	GinkgoHelper()
	co := call(http.MethodPost, inst.url+"/v1/checkout", map[string]any{"buyerId": buyerID,
		"items": []map[string]any{{"productId": "book-kia", "quantity": 1}, {"productId": "mug-gopher", "quantity": 2}}})
	Expect(co.status).To(Equal(http.StatusCreated), "%v", co.body)
	orderID, amount = co.body["orderId"].(string), co.body["totalAmount"].(string)
	sess := call(http.MethodPost, inst.simURL+"/sim/v1/sessions",
		fmt.Sprintf(`{"orderId":%q,"amount":%s,"method":"VIRTUAL_ACCOUNT","customerName":"김토스"}`, orderID, amount))
	Expect(sess.status).To(Equal(http.StatusCreated), "%v", sess.body)
	paymentKey = sess.body["paymentKey"].(string)
	conf = call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, paymentKey, amount))
	Expect(conf.status).To(Equal(http.StatusOK), "%v", conf.body)
	Expect(conf.body["status"]).To(Equal("WAITING_FOR_DEPOSIT"))
	return orderID, paymentKey, amount, conf
}

var _ = Describe("paymentd end to end: a virtual-account payment (embedded default)", func() {
	It("waits for the deposit with the account shown, takes it from Toss's webhook, and ignores forged and duplicated webhooks", func(ctx SpecContext) {
		inst := startPaymentd(nil)
		DeferCleanup(inst.stop)

		orderID, paymentKey, amount, conf := confirmVirtualAccount(inst, "buyer-1")
		Expect(conf.body["virtualAccount"]).To(And(HaveKeyWithValue("accountNumber", MatchRegexp(`^[0-9]{14}$`)),
			HaveKeyWithValue("bankCode", "20"), HaveKeyWithValue("customerName", "김토스"), HaveKey("dueDate")))
		Expect(conf.body["virtualAccount"]).NotTo(HaveKey("secret"))
		account := conf.body["virtualAccount"]

		// The read models show the account too: every GET and list is served from them.
		position := conf.header.Get("X-Event-Position")
		state := call(http.MethodGet, inst.url+"/v1/payments/"+orderID+"?wait="+position, nil)
		Expect(state.status).To(Equal(http.StatusOK), "%v %s", state.body, position)
		Expect(state.body["status"]).To(Equal("WAITING_FOR_DEPOSIT"))
		Expect(state.body["virtualAccount"]).To(Equal(account), "the read model shows the account the confirm answered")
		listed := call(http.MethodGet, inst.url+"/v1/payments?buyerId=buyer-1&limit=500", nil)
		Expect(listed.status).To(Equal(http.StatusOK))
		Expect(listed.body["items"]).To(ContainElement(And(HaveKeyWithValue("orderId", orderID), HaveKeyWithValue("virtualAccount", account))))
		waiting := typesOf(historyOf(inst, orderID))
		Expect(waiting).To(Equal([]string{"payment.checkout-created.v1", "payment.execution-started.v1", "payment.deposit-awaited.v1"}))

		// A forged deposit callback (the secret is not the account's) is answered 200 and refused.
		tossWebhook(inst, "forged-1", fmt.Sprintf(`{"createdAt":"2026-01-02T03:04:05.000000","secret":"not-the-secret","status":"DONE","transactionKey":"tx-forged","orderId":%q}`, orderID))
		Eventually(func() int { return metric(inst, "paystream_deposit_callbacks_refused_total") }).WithContext(ctx).Should(Equal(1))
		Eventually(func() int { return metric(inst, "paystream_webhook_backlog") }).WithContext(ctx).Should(BeZero())
		Expect(typesOf(historyOf(inst, orderID))).To(Equal(waiting), "a forged callback records nothing")
		state = call(http.MethodGet, inst.url+"/v1/payments/"+orderID, nil)
		Expect(state.status).To(Equal(http.StatusOK), "stored webhooks are not payment events the read model waits for: %v", state.body)
		Expect(state.body).To(And(HaveKeyWithValue("status", "WAITING_FOR_DEPOSIT"), HaveKeyWithValue("virtualAccount", account)))

		// The buyer deposits; Toss (the simulator, sending every webhook twice) tells paymentd.
		Expect(call(http.MethodPut, inst.simURL+"/sim/v1/faults", `{"webhookRateDuplicate":1}`).status).To(Equal(http.StatusOK))
		paid := call(http.MethodPost, inst.simURL+"/sim/v1/payments/"+paymentKey+"/deposit", fmt.Sprintf(`{"amount":%s}`, amount))
		Expect(paid.status).To(Equal(http.StatusOK), "%v", paid.body)
		Eventually(func() any {
			return call(http.MethodGet, inst.url+"/v1/payments/"+orderID, nil).body["status"]
		}).WithContext(ctx).WithTimeout(15 * time.Second).Should(Equal("SUCCESS"))
		Eventually(func() any {
			return call(http.MethodGet, inst.url+"/v1/payments/"+orderID, nil).body["isPaymentDone"]
		}).WithContext(ctx).WithTimeout(15 * time.Second).Should(BeTrue())
		done := call(http.MethodGet, inst.url+"/v1/payments/"+orderID, nil)
		Expect(done.body["virtualAccount"]).To(Equal(account), "kept after the deposit")
		history := typesOf(historyOf(inst, orderID))
		Expect(history[:4]).To(Equal(append(waiting, "payment.psp-approved.v1")), "one approval, from the deposit")
		for _, t := range history[4:] {
			Expect(t).To(BeElementOf(downstreamTypes), "%v", history)
		}
		Expect(history).To(ContainElement("payment.completed.v1"))

		// Toss repeats the deposit callback (same transmission id, then a new one): nothing changes.
		req, err := http.NewRequest(http.MethodGet, inst.simURL+"/v1/payments/"+paymentKey, nil)
		Expect(err).NotTo(HaveOccurred())
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(string(simulatorKey)+":")))
		resp, err := http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		var record struct{ Secret string }
		Expect(jsonDecode(resp, &record)).To(Succeed())
		resp.Body.Close()
		Expect(record.Secret).NotTo(BeEmpty())
		stored := metric(inst, "paystream_webhooks_stored_total")
		genuine := fmt.Sprintf(`{"createdAt":"2026-01-02T03:04:05.000000","secret":%q,"status":"DONE","transactionKey":"tx-again","orderId":%q}`,
			record.Secret, orderID)
		tossWebhook(inst, "again-1", genuine)
		tossWebhook(inst, "again-1", genuine)
		tossWebhook(inst, "again-2", genuine)
		Eventually(func() int { return metric(inst, "paystream_webhooks_stored_total") }).WithContext(ctx).Should(Equal(stored+2),
			"a repeated transmission is stored once")
		Eventually(func() int { return metric(inst, "paystream_webhook_backlog") }).WithContext(ctx).Should(BeZero())
		Expect(metric(inst, "paystream_deposit_callbacks_refused_total")).To(Equal(1), "the genuine secret is not refused")
		Expect(typesOf(historyOf(inst, orderID))).To(Equal(history), "worked off, they record nothing")
		Expect(call(http.MethodGet, inst.url+"/v1/payments/"+orderID, nil).body).To(And(HaveKeyWithValue("status", "SUCCESS"),
			HaveKeyWithValue("isPaymentDone", true)))
	})
})
