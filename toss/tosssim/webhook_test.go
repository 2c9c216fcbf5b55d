package tosssim_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/toss/tosssim"
)

// hook is one webhook request as the merchant received it.
type hook struct {
	id, time, retried, contentType string
	body                           map[string]any
	at                             time.Time
}

func (h hook) data() map[string]any { return h.body["data"].(map[string]any) }

// receiver is the merchant's webhook endpoint: it records every request and answers with
// the status answer gives for the nth request (0-based).
type receiver struct {
	server *httptest.Server
	mu     sync.Mutex
	got    []hook
	answer func(n int, r *http.Request) int
}

func newReceiver(answer func(n int, r *http.Request) int) *receiver {
	rc := &receiver{answer: answer}
	rc.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		h := hook{id: r.Header.Get("tosspayments-webhook-transmission-id"), time: r.Header.Get("tosspayments-webhook-transmission-time"),
			retried: r.Header.Get("tosspayments-webhook-transmission-retried-count"), contentType: r.Header.Get("Content-Type"), at: time.Now()}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		_ = dec.Decode(&h.body)
		rc.mu.Lock()
		n := len(rc.got)
		rc.got = append(rc.got, h)
		rc.mu.Unlock()
		w.WriteHeader(rc.answer(n, r))
	}))
	DeferCleanup(rc.server.Close)
	return rc
}

func always(status int) func(int, *http.Request) int {
	return func(int, *http.Request) int { return status }
}

func (rc *receiver) hooks() []hook {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hook(nil), rc.got...)
}

// event names a webhook by what the merchant would switch on: the eventType, or
// DEPOSIT_CALLBACK for the body without one, and the status it reports.
func event(h hook) string {
	if t, ok := h.body["eventType"].(string); ok {
		if t == tosssim.EventCancelStatusChanged {
			return t + " " + h.data()["cancelStatus"].(string)
		}
		return t + " " + h.data()["status"].(string)
	}
	return tosssim.EventDepositCallback + " " + h.body["status"].(string)
}

func events(hs []hook) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = event(h) + " " + orderOf(h)
	}
	return out
}

func orderOf(h hook) string {
	if id, ok := h.body["orderId"].(string); ok {
		return id
	}
	if d, ok := h.body["data"].(map[string]any); ok {
		if id, ok := d["orderId"].(string); ok {
			return id
		}
	}
	return ""
}

// patience bounds every wait for a delivery: generous, since this machine is shared and
// the retry spec alone waits 0.55 s of compressed schedule.
const patience = 10 * time.Second

var _ = forEachStorage("webhook delivery", func(st storage) {
	var (
		h  *harness
		rc *receiver
	)
	// start runs a simulator delivering to rc with one worker (so that events arrive in
	// the order they happened unless a fault says otherwise) and Toss's schedule compressed
	// 600,000 times (4096 minutes → 410 ms).
	start := func(answer func(int, *http.Request) int, mod ...func(*tosssim.WebhookOptions)) {
		rc = newReceiver(answer)
		o := tosssim.WebhookOptions{URL: rc.server.URL + "/v1/webhooks/toss", Workers: 1, RetryScale: 600_000}
		for _, m := range mod {
			m(&o)
		}
		h = newHarness(tosssim.Options{Webhooks: o})
		DeferCleanup(h.sim.Close)
	}
	card := func(ctx context.Context, orderID string, extra string) string {
		return h.approved(ctx, orderID, 10000, extra)
	}

	Context("to a merchant answering 200", func() {
		BeforeEach(func() { start(always(http.StatusOK)) })

		It("sends each kind with Toss's headers and bodies", func(ctx SpecContext) {
			By("a card confirm: PAYMENT_STATUS_CHANGED with the Payment")
			card(ctx, "order-wh-01", "")
			Eventually(rc.hooks).WithContext(ctx).WithTimeout(patience).Should(HaveLen(1))
			first := rc.hooks()[0]
			Expect(first.body).To(HaveKeyWithValue("eventType", "PAYMENT_STATUS_CHANGED"))
			Expect(first.body).To(HaveKeyWithValue("createdAt", "2026-03-04T14:06:07.000000")) // KST, no offset
			Expect(first.data()).To(HaveKeyWithValue("status", "DONE"))
			Expect(first.data()).To(HaveKeyWithValue("orderId", "order-wh-01"))
			Expect(first.data()).To(HaveKeyWithValue("version", "2022-11-16"))
			Expect(first.id).To(MatchRegexp(`^whtrans_[a-z0-9]+$`))
			Expect(first.time).To(Equal("2026-03-04T14:06:07+09:00"))
			Expect(first.retried).To(Equal("0"))
			Expect(first.contentType).To(Equal("application/json"))

			By("a virtual account: DEPOSIT_CALLBACK with the secret, next to PAYMENT_STATUS_CHANGED, issued, deposited, failed")
			r := h.send(ctx, "POST", "/sim/v1/sessions", `{"orderId":"order-wh-02","amount":20000,"method":"VIRTUAL_ACCOUNT"}`)
			key := r.json["paymentKey"].(string)
			confirm := h.send(ctx, "POST", "/v1/payments/confirm", `{"paymentKey":"`+key+`","orderId":"order-wh-02","amount":20000}`)
			Expect(confirm.status).To(Equal(http.StatusOK))
			_, err := h.sim.Deposit(key, decimal.NewFromInt(20000))
			Expect(err).NotTo(HaveOccurred())
			failed, err := h.sim.FailDeposit(key)
			Expect(err).NotTo(HaveOccurred())
			Eventually(func() []string { return events(rc.hooks()) }).WithContext(ctx).WithTimeout(patience).Should(Equal([]string{
				"PAYMENT_STATUS_CHANGED DONE order-wh-01",
				"PAYMENT_STATUS_CHANGED WAITING_FOR_DEPOSIT order-wh-02",
				"DEPOSIT_CALLBACK WAITING_FOR_DEPOSIT order-wh-02",
				"PAYMENT_STATUS_CHANGED DONE order-wh-02",
				"DEPOSIT_CALLBACK DONE order-wh-02",
				"PAYMENT_STATUS_CHANGED WAITING_FOR_DEPOSIT order-wh-02",
				"DEPOSIT_CALLBACK WAITING_FOR_DEPOSIT order-wh-02",
			}))
			callback := rc.hooks()[2].body
			Expect(callback).To(HaveLen(5))
			Expect(callback).To(HaveKeyWithValue("createdAt", "2026-03-04T14:06:07.000000"))
			Expect(callback).To(HaveKeyWithValue("secret", confirm.json["secret"]))
			Expect(callback).To(HaveKeyWithValue("transactionKey", confirm.json["lastTransactionKey"]))
			Expect(rc.hooks()[6].body).To(HaveKeyWithValue("transactionKey", failed.LastTransactionKey))

			By("cancels: PAYMENT_STATUS_CHANGED, and CANCEL_STATUS_CHANGED with the Cancel for an overseas easy-pay payment only")
			domestic := card(ctx, "order-wh-03", "")
			Expect(h.send(ctx, "POST", "/v1/payments/"+domestic+"/cancel", `{"cancelReason":"r","cancelAmount":1000}`).status).To(Equal(http.StatusOK))
			overseas := card(ctx, "order-wh-04", `,"method":"EASY_PAY","overseas":true`)
			Expect(h.send(ctx, "POST", "/v1/payments/"+overseas+"/cancel", `{"cancelReason":"r","cancelAmount":4000}`).status).To(Equal(http.StatusOK))
			Eventually(func() []string { return events(rc.hooks())[7:] }).WithContext(ctx).WithTimeout(patience).Should(Equal([]string{
				"PAYMENT_STATUS_CHANGED DONE order-wh-03",
				"PAYMENT_STATUS_CHANGED PARTIAL_CANCELED order-wh-03",
				"PAYMENT_STATUS_CHANGED DONE order-wh-04",
				"PAYMENT_STATUS_CHANGED PARTIAL_CANCELED order-wh-04",
				"CANCEL_STATUS_CHANGED DONE ",
			}))
			cancelData := rc.hooks()[11].data()
			Expect(cancelData).To(HaveKeyWithValue("cancelAmount", json.Number("4000")))
			Expect(cancelData).To(HaveKeyWithValue("transactionKey", Not(BeEmpty())))
			Expect(cancelData).NotTo(HaveKey("orderId"))

			ids := map[string]bool{}
			for _, got := range rc.hooks() {
				ids[got.id] = true
			}
			Expect(ids).To(HaveLen(12), "a transmission id per event")
			Expect(h.sim.Stats().Webhooks.Events).To(BeEquivalentTo(12))
			// The receiver sees a webhook before the simulator has read its answer.
			Eventually(func() int64 { return h.sim.Stats().Webhooks.Delivered }).Should(BeEquivalentTo(12))
		})
	})

	It("sends nothing without a URL, and to the URL set later", func(ctx SpecContext) {
		rc = newReceiver(always(http.StatusOK))
		h = newHarness(tosssim.Options{})
		DeferCleanup(h.sim.Close)
		h.approved(ctx, "order-wh-10", 10000, "")
		Expect(h.sim.Stats().Webhooks.Events).To(BeZero())
		h.sim.SetWebhookURL(rc.server.URL)
		h.approved(ctx, "order-wh-11", 10000, "")
		Eventually(func() []string { return events(rc.hooks()) }).WithContext(ctx).WithTimeout(patience).Should(Equal([]string{"PAYMENT_STATUS_CHANGED DONE order-wh-11"}))
	})

	Context("to a merchant answering anything but 200", func() {
		It("retries seven times on Toss's schedule (compressed), with the same transmission id, then gives up", func(ctx SpecContext) {
			start(always(http.StatusInternalServerError))
			card(ctx, "order-wh-20", "")
			Eventually(func() int64 { return h.sim.Stats().Webhooks.Abandoned }).WithContext(ctx).WithTimeout(patience).Should(BeEquivalentTo(1))
			got := rc.hooks()
			Expect(got).To(HaveLen(8))
			for i, attempt := range got {
				Expect(attempt.retried).To(Equal(strconv.Itoa(i)))
				Expect(attempt.id).To(Equal(got[0].id))
				Expect(attempt.body).To(Equal(got[0].body))
				if i > 0 {
					Expect(attempt.at.Sub(got[i-1].at)).To(BeNumerically(">=", tosssim.RetrySchedule[i-1]/600_000), "retry %d", i)
				}
			}
			st := h.sim.Stats().Webhooks
			Expect(st.Attempts).To(BeEquivalentTo(8))
			Expect(st.Retries).To(BeEquivalentTo(7))
			Expect(st.Delivered).To(BeZero())
		})

		It("stops retrying once answered 200", func(ctx SpecContext) {
			start(func(n int, _ *http.Request) int { return []int{503, 404, 200}[min(n, 2)] })
			card(ctx, "order-wh-21", "")
			Eventually(func() int64 { return h.sim.Stats().Webhooks.Delivered }).WithContext(ctx).WithTimeout(patience).Should(BeEquivalentTo(1))
			got := rc.hooks()
			Expect(got).To(HaveLen(3))
			Expect([]string{got[0].retried, got[1].retried, got[2].retried}).To(Equal([]string{"0", "1", "2"}))
			Expect(h.sim.Stats().Webhooks.Abandoned).To(BeZero())
		})

		It("counts a merchant that does not answer in time as a failed attempt", func(ctx SpecContext) {
			start(func(n int, r *http.Request) int {
				if n == 0 {
					<-r.Context().Done()
				}
				return http.StatusOK
			}, func(o *tosssim.WebhookOptions) { o.Timeout = 50 * time.Millisecond })
			card(ctx, "order-wh-22", "")
			Eventually(func() int64 { return h.sim.Stats().Webhooks.Delivered }).WithContext(ctx).WithTimeout(patience).Should(BeEquivalentTo(1))
			Expect(rc.hooks()).To(HaveLen(2))
			Expect(rc.hooks()[1].retried).To(Equal("1"))
		})
	})

	Context("with faults", func() {
		BeforeEach(func() { start(always(http.StatusOK)) })

		It("duplicates: the event twice with one transmission id", func(ctx SpecContext) {
			h.sim.SetFaults(tosssim.Faults{WebhookRateDuplicate: 1})
			card(ctx, "order-wh-30", "")
			Eventually(rc.hooks).WithContext(ctx).WithTimeout(patience).Should(HaveLen(2))
			got := rc.hooks()
			Expect(got[1].id).To(Equal(got[0].id))
			Expect(got[1].body).To(Equal(got[0].body))
			Expect(h.sim.Stats().Webhooks.Duplicated).To(BeEquivalentTo(1))
		})

		It("drops: the event is never sent", func(ctx SpecContext) {
			h.sim.SetFaults(tosssim.Faults{WebhookRateDrop: 1})
			card(ctx, "order-wh-31", "")
			h.sim.SetFaults(tosssim.Faults{})
			card(ctx, "order-wh-32", "")
			Eventually(func() []string { return events(rc.hooks()) }).WithContext(ctx).WithTimeout(patience).Should(Equal([]string{"PAYMENT_STATUS_CHANGED DONE order-wh-32"}))
			Expect(h.sim.Stats().Webhooks.Dropped).To(BeEquivalentTo(1))
		})

		It("reorders: the event arrives after the next one", func(ctx SpecContext) {
			h.sim.SetFaults(tosssim.Faults{WebhookRateReorder: 1, WebhookDelay: time.Minute})
			card(ctx, "order-wh-33", "")
			h.sim.SetFaults(tosssim.Faults{})
			card(ctx, "order-wh-34", "")
			Eventually(func() []string { return events(rc.hooks()) }).WithContext(ctx).WithTimeout(patience).Should(Equal([]string{
				"PAYMENT_STATUS_CHANGED DONE order-wh-34", "PAYMENT_STATUS_CHANGED DONE order-wh-33"}))
			Expect(h.sim.Stats().Webhooks.Reordered).To(BeEquivalentTo(1))
		})

		It("reorders with no next event: the event goes after WebhookDelay", func(ctx SpecContext) {
			h.sim.SetFaults(tosssim.Faults{WebhookRateReorder: 1, WebhookDelay: 20 * time.Millisecond})
			card(ctx, "order-wh-35", "")
			Eventually(func() []string { return events(rc.hooks()) }).WithContext(ctx).WithTimeout(patience).Should(Equal([]string{"PAYMENT_STATUS_CHANGED DONE order-wh-35"}))
		})

		It("delays: the event is sent WebhookDelay late, and a later one overtakes it", func(ctx SpecContext) {
			h.sim.SetFaults(tosssim.Faults{WebhookRateDelay: 1, WebhookDelay: 300 * time.Millisecond})
			emitted := time.Now()
			card(ctx, "order-wh-36", "")
			h.sim.SetFaults(tosssim.Faults{})
			card(ctx, "order-wh-37", "")
			Eventually(func() []string { return events(rc.hooks()) }).WithContext(ctx).WithTimeout(patience).Should(Equal([]string{
				"PAYMENT_STATUS_CHANGED DONE order-wh-37", "PAYMENT_STATUS_CHANGED DONE order-wh-36"}))
			Expect(rc.hooks()[1].at.Sub(emitted)).To(BeNumerically(">=", 300*time.Millisecond))
			Expect(h.sim.Stats().Webhooks.Delayed).To(BeEquivalentTo(1))
		})

		It("are set and read at run time as JSON, and refused when the webhook rates exceed 1", func(ctx SpecContext) {
			r := h.send(ctx, "PUT", "/sim/v1/faults", `{"webhookRateDuplicate":0.25,"webhookRateReorder":0.25,"webhookDelay":"2s"}`)
			Expect(r.status).To(Equal(http.StatusOK), "%s", r.raw)
			r = h.send(ctx, "GET", "/sim/v1/faults", "")
			Expect(r.json).To(HaveKeyWithValue("webhookRateDuplicate", json.Number("0.25")))
			Expect(r.json).To(HaveKeyWithValue("webhookDelay", "2s"))
			r = h.send(ctx, "PUT", "/sim/v1/faults", `{"webhookRateDrop":0.6,"webhookRateDelay":0.6}`)
			Expect(r.status).To(Equal(http.StatusBadRequest))
			Expect(r.json["message"]).To(ContainSubstring("webhook fault rates"))
		})
	})

	// In memory the API keeps answering after Close, so the spec can show that nothing is
	// sent for a payment made then; on disk Close closes the database too (see "a data
	// directory").
	if st.memory {
		It("is bounded by its queue, and Close stops it, cancelling the attempt in flight", func(ctx SpecContext) {
			release := make(chan struct{})
			start(func(_ int, r *http.Request) int {
				select {
				case <-release:
				case <-r.Context().Done():
				}
				return http.StatusOK
			}, func(o *tosssim.WebhookOptions) { o.QueueSize = 2 })
			DeferCleanup(func() { close(release) })
			for i := range 4 {
				card(ctx, "order-wh-4"+strconv.Itoa(i), "")
			}
			Expect(h.sim.Stats().Webhooks.Overflowed).To(BeEquivalentTo(2))
			Eventually(rc.hooks).WithContext(ctx).WithTimeout(patience).Should(HaveLen(1))

			closed := make(chan struct{})
			go func() {
				h.sim.Close()
				close(closed)
			}()
			Eventually(closed).WithContext(ctx).WithTimeout(patience).Should(BeClosed())
			card(ctx, "order-wh-50", "")
			Consistently(rc.hooks).WithContext(ctx).WithTimeout(200 * time.Millisecond).Should(HaveLen(1))
			Expect(h.sim.Stats().Webhooks.Delivered).To(BeZero())
		})
	}
})
