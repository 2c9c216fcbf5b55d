package tosssim_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/toss/tosssim"
)

// harness is a simulator behind a test server, with a settable clock.
type harness struct {
	now    *clock
	sim    *tosssim.Simulator
	server *httptest.Server
}

func newHarness(opts tosssim.Options) *harness {
	h := &harness{now: &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}}
	opts.Now = h.now.Now
	if opts.SecretKeys == nil {
		opts.SecretKeys = []string{testKey}
	}
	h.sim = newSimulator(opts)
	h.server = httptest.NewServer(h.sim)
	DeferCleanup(h.server.Close)
	return h
}

// send makes one request authenticated with testKey; headers are name/value pairs, an
// empty value removes the header. A connection closed without an answer is status 0.
func (h *harness) send(ctx context.Context, method, path, body string, headers ...string) reply {
	GinkgoHelper()
	req, err := http.NewRequestWithContext(ctx, method, h.server.URL+path, strings.NewReader(body))
	Expect(err).NotTo(HaveOccurred())
	req.GetBody = nil // never resent by net/http: a dropped answer stays dropped
	req.Header.Set("Authorization", basic(testKey))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(GinkgoWriter, "%s %s: no answer: %v\n", method, path, err)
		return reply{}
	}
	defer resp.Body.Close()
	r := reply{status: resp.StatusCode}
	r.raw, err = io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	dec := json.NewDecoder(bytes.NewReader(r.raw))
	dec.UseNumber()
	Expect(dec.Decode(&r.json)).To(Succeed(), "body %s", r.raw)
	return r
}

// approved creates a session (extra are more JSON members of the session request) and
// confirms it, returning the paymentKey.
func (h *harness) approved(ctx context.Context, orderID string, amount int, extra string) string {
	GinkgoHelper()
	r := h.send(ctx, "POST", "/sim/v1/sessions", `{"orderId":"`+orderID+`","amount":`+strconv.Itoa(amount)+extra+`}`)
	Expect(r.status).To(Equal(http.StatusCreated), "%s", r.raw)
	key := r.json["paymentKey"].(string)
	r = h.send(ctx, "POST", "/v1/payments/confirm", `{"paymentKey":"`+key+`","orderId":"`+orderID+`","amount":`+strconv.Itoa(amount)+`}`)
	Expect(r.status).To(Equal(http.StatusOK), "%s", r.raw)
	return key
}

// cancels are the cancels[] of a Payment answer.
func cancels(r reply) []map[string]any {
	GinkgoHelper()
	raw, ok := r.json["cancels"].([]any)
	if !ok {
		return nil
	}
	out := make([]map[string]any, len(raw))
	for i, c := range raw {
		out[i] = c.(map[string]any)
	}
	return out
}

const account = `"refundReceiveAccount":{"bank":"88","accountNumber":"11012345678","holderName":"홍길동"}`

var _ = forEachStorage("cancels at the simulator", func(_ storage) {
	var (
		h   *harness
		key string
	)
	cancel := func(ctx context.Context, body string, headers ...string) reply {
		return h.send(ctx, "POST", "/v1/payments/"+key+"/cancel", body, headers...)
	}

	BeforeEach(func(ctx SpecContext) {
		h = newHarness(tosssim.Options{Seed: 3})
		key = h.approved(ctx, "order-7000", 10000, "")
	})

	Describe("a partial then a full cancel", func() {
		It("records each with a transactionKey, canceledAt and DONE, lowers the balance and moves the status", func(ctx SpecContext) {
			h.now.Advance(time.Minute)
			r := cancel(ctx, `{"cancelReason":"one item out of stock","cancelAmount":4000,"taxFreeAmount":1000}`)
			Expect(r.status).To(Equal(http.StatusOK), "%s", r.raw)
			Expect(r.json).To(SatisfyAll(
				HaveKeyWithValue("status", "PARTIAL_CANCELED"),
				HaveKeyWithValue("totalAmount", json.Number("10000")),
				HaveKeyWithValue("balanceAmount", json.Number("6000")),
				HaveKeyWithValue("isPartialCancelable", true),
			))
			Expect(cancels(r)).To(HaveLen(1))
			first := cancels(r)[0]
			Expect(first).To(SatisfyAll(
				HaveKeyWithValue("cancelAmount", json.Number("4000")),
				HaveKeyWithValue("cancelReason", "one item out of stock"),
				HaveKeyWithValue("taxFreeAmount", json.Number("1000")),
				HaveKeyWithValue("refundableAmount", json.Number("6000")),
				HaveKeyWithValue("canceledAt", "2026-03-04T14:07:07+09:00"),
				HaveKeyWithValue("cancelStatus", "DONE"),
				HaveKeyWithValue("transactionKey", Not(BeEmpty())),
			))
			Expect(r.json).To(HaveKeyWithValue("lastTransactionKey", first["transactionKey"]))

			h.now.Advance(time.Minute)
			r = cancel(ctx, `{"cancelReason":"order withdrawn"}`)
			Expect(r.status).To(Equal(http.StatusOK), "%s", r.raw)
			Expect(r.json).To(HaveKeyWithValue("status", "CANCELED"))
			Expect(r.json).To(HaveKeyWithValue("balanceAmount", json.Number("0")))
			Expect(cancels(r)).To(HaveLen(2))
			second := cancels(r)[1]
			Expect(second).To(HaveKeyWithValue("cancelAmount", json.Number("6000")))
			Expect(second).To(HaveKeyWithValue("taxFreeAmount", json.Number("0")))
			Expect(second["transactionKey"]).NotTo(Equal(first["transactionKey"]))
			Expect(h.sim.Stats().Cancels).To(BeEquivalentTo(2))
			Expect(h.sim.Stats().CancelRequests).To(BeEquivalentTo(2))
		})
	})

	Describe("Toss's rules", func() {
		It("refuses more than the balance with 403 NOT_CANCELABLE_AMOUNT and cancels nothing", func(ctx SpecContext) {
			Expect(cancel(ctx, `{"cancelReason":"r","cancelAmount":3000}`).status).To(Equal(http.StatusOK))
			h.now.Advance(2 * time.Second)
			r := cancel(ctx, `{"cancelReason":"r","cancelAmount":7001}`)
			Expect(r.status).To(Equal(http.StatusForbidden))
			Expect(r.code()).To(Equal("NOT_CANCELABLE_AMOUNT"))
			lookup := h.send(ctx, "GET", "/v1/payments/"+key, "")
			Expect(lookup.json).To(HaveKeyWithValue("balanceAmount", json.Number("7000")))
			Expect(cancels(lookup)).To(HaveLen(1))
		})

		It("refuses any cancel of a fully cancelled payment with 400 ALREADY_CANCELED_PAYMENT", func(ctx SpecContext) {
			Expect(cancel(ctx, `{"cancelReason":"r"}`).status).To(Equal(http.StatusOK))
			for _, body := range []string{`{"cancelReason":"r"}`, `{"cancelReason":"r","cancelAmount":1}`} {
				h.now.Advance(2 * time.Second)
				r := cancel(ctx, body)
				Expect(r.status).To(Equal(http.StatusBadRequest))
				Expect(r.code()).To(Equal("ALREADY_CANCELED_PAYMENT"))
			}
		})

		It("refuses a second cancel of the payment within a second with 403 FORBIDDEN_CONSECUTIVE_REQUEST, and takes one after it", func(ctx SpecContext) {
			Expect(cancel(ctx, `{"cancelReason":"r","cancelAmount":1000}`).status).To(Equal(http.StatusOK))
			h.now.Advance(999 * time.Millisecond)
			r := cancel(ctx, `{"cancelReason":"r","cancelAmount":1000}`)
			Expect(r.status).To(Equal(http.StatusForbidden))
			Expect(r.code()).To(Equal("FORBIDDEN_CONSECUTIVE_REQUEST"))
			h.now.Advance(time.Millisecond)
			Expect(cancel(ctx, `{"cancelReason":"r","cancelAmount":1000}`).json).To(HaveKeyWithValue("balanceAmount", json.Number("8000")))
		})

		It("executes one of 50 concurrent cancels of a payment and turns the rest away, with a key each or one key for all", func(ctx SpecContext) {
			for _, shared := range []bool{false, true} {
				key = h.approved(ctx, "order-7100-"+strconv.FormatBool(shared), 10000, "")
				codes := make(chan any, 50)
				for i := range 50 {
					go func() {
						defer GinkgoRecover()
						idem := "k-" + strconv.Itoa(i)
						if shared {
							idem = "k-shared"
						}
						r := cancel(ctx, `{"cancelReason":"r","cancelAmount":1000}`, "Idempotency-Key", idem)
						if r.status == http.StatusOK {
							codes <- "OK"
						} else {
							codes <- r.code()
						}
					}()
				}
				var got []any
				for range 50 {
					var c any
					Eventually(codes).WithContext(ctx).Should(Receive(&c))
					got = append(got, c)
				}
				Expect(got).To(ContainElement("OK"))
				Expect(got).To(HaveEach(BeElementOf("OK", "FORBIDDEN_CONSECUTIVE_REQUEST", "IDEMPOTENT_REQUEST_PROCESSING")))
				Expect(cancels(h.send(ctx, "GET", "/v1/payments/"+key, ""))).To(HaveLen(1), "shared key %v", shared)
			}
		})

		It("refuses a taxFreeAmount above the cancelAmount with 400 INVALID_REQUEST", func(ctx SpecContext) {
			r := cancel(ctx, `{"cancelReason":"r","cancelAmount":1000,"taxFreeAmount":1001}`)
			Expect(r.status).To(Equal(http.StatusBadRequest))
			Expect(r.code()).To(Equal("INVALID_REQUEST"))
			h.now.Advance(2 * time.Second)
			Expect(cancel(ctx, `{"cancelReason":"r","taxFreeAmount":10001}`).code()).To(Equal("INVALID_REQUEST"))
			Expect(h.sim.Stats().Cancels).To(BeZero())
		})

		DescribeTable("refuses a malformed cancel with 400 INVALID_REQUEST before executing",
			func(ctx SpecContext, body string) {
				r := cancel(ctx, body)
				Expect(r.status).To(Equal(http.StatusBadRequest))
				Expect(r.code()).To(Equal("INVALID_REQUEST"))
			},
			Entry("a reason over 200 characters", `{"cancelReason":"`+strings.Repeat("가", 201)+`"}`),
			Entry("a negative taxFreeAmount", `{"cancelReason":"r","taxFreeAmount":-1}`),
			Entry("a fractional taxFreeAmount", `{"cancelReason":"r","taxFreeAmount":0.5}`),
			Entry("a taxFreeAmount as a string", `{"cancelReason":"r","taxFreeAmount":"0"}`),
			Entry("a refund account that is not an object", `{"cancelReason":"r","refundReceiveAccount":"88-110"}`),
		)

		Context("for a payment that is not partially cancelable", func() {
			BeforeEach(func(ctx SpecContext) { key = h.approved(ctx, "order-7001", 10000, `,"isPartialCancelable":false`) })

			It("says so, refuses a partial cancel with 403 NOT_ALLOWED_PARTIAL_REFUND and takes a full one", func(ctx SpecContext) {
				Expect(h.send(ctx, "GET", "/v1/payments/"+key, "").json).To(HaveKeyWithValue("isPartialCancelable", false))
				r := cancel(ctx, `{"cancelReason":"r","cancelAmount":9999}`)
				Expect(r.status).To(Equal(http.StatusForbidden))
				Expect(r.code()).To(Equal("NOT_ALLOWED_PARTIAL_REFUND"))
				h.now.Advance(2 * time.Second)
				r = cancel(ctx, `{"cancelReason":"r","cancelAmount":10000}`)
				Expect(r.status).To(Equal(http.StatusOK), "%s", r.raw)
				Expect(r.json).To(HaveKeyWithValue("status", "CANCELED"))
			})
		})

		Context("for a virtual-account payment", func() {
			BeforeEach(func(ctx SpecContext) {
				key = h.approved(ctx, "order-7002", 10000, `,"method":"VIRTUAL_ACCOUNT"`)
				Expect(h.send(ctx, "POST", "/sim/v1/payments/"+key+"/deposit", `{"amount":10000}`).status).To(Equal(http.StatusOK))
			})

			DescribeTable("requires a valid refund account",
				func(ctx SpecContext, body string, code string) {
					r := cancel(ctx, body)
					Expect(r.status).To(Equal(http.StatusBadRequest), "%s", r.raw)
					Expect(r.code()).To(Equal(code))
					Expect(h.sim.Stats().Cancels).To(BeZero())
				},
				Entry("none", `{"cancelReason":"r"}`, "INVALID_REQUEST"),
				Entry("no bank", `{"cancelReason":"r","refundReceiveAccount":{"accountNumber":"11012345678","holderName":"홍길동"}}`, "INVALID_BANK"),
				Entry("an account number with dashes", `{"cancelReason":"r","refundReceiveAccount":{"bank":"88","accountNumber":"110-123-45678","holderName":"홍길동"}}`, "INVALID_REFUND_ACCOUNT_NUMBER"),
				Entry("an account number over 20 digits", `{"cancelReason":"r","refundReceiveAccount":{"bank":"88","accountNumber":"123456789012345678901","holderName":"홍길동"}}`, "INVALID_REFUND_ACCOUNT_NUMBER"),
				Entry("no holder", `{"cancelReason":"r","refundReceiveAccount":{"bank":"88","accountNumber":"11012345678"}}`, "INVALID_REFUND_ACCOUNT_INFO"),
			)

			It("refunds to the account given", func(ctx SpecContext) {
				r := cancel(ctx, `{"cancelReason":"r","cancelAmount":2500,`+account+`}`)
				Expect(r.status).To(Equal(http.StatusOK), "%s", r.raw)
				Expect(r.json).To(HaveKeyWithValue("balanceAmount", json.Number("7500")))
			})
		})

		It("answers a cancel Test-Code with Toss's status, without executing", func(ctx SpecContext) {
			for code, status := range map[string]int{"NOT_ALLOWED_PARTIAL_REFUND": 403, "EXCEED_MAX_REFUND_DUE": 403,
				"FAILED_REFUND_PROCESS": 500, "FAILED_CLOSED_ACCOUNT_REFUND": 500, "ALREADY_REFUND_PAYMENT": 400} {
				r := cancel(ctx, `{"cancelReason":"r"}`, "TossPayments-Test-Code", code)
				Expect(r.status).To(Equal(status), code)
				Expect(r.code()).To(Equal(code))
			}
			Expect(h.sim.Stats().Cancels).To(BeZero())
		})
	})

	Describe("idempotency", func() {
		It("answers a repeat of the key from the stored answer, whatever the body, and executes once", func(ctx SpecContext) {
			first := cancel(ctx, `{"cancelReason":"r","cancelAmount":4000}`, "Idempotency-Key", "cancel-r1")
			Expect(first.status).To(Equal(http.StatusOK))
			h.now.Advance(time.Minute)
			again := cancel(ctx, `{"cancelReason":"r","cancelAmount":4000}`, "Idempotency-Key", "cancel-r1")
			Expect(again.raw).To(Equal(first.raw))
			other := cancel(ctx, `{"cancelReason":"another","cancelAmount":1000}`, "Idempotency-Key", "cancel-r1")
			Expect(other.raw).To(Equal(first.raw))

			Expect(cancels(h.send(ctx, "GET", "/v1/payments/"+key, ""))).To(HaveLen(1))
			Expect(h.sim.Stats().Cancels).To(BeEquivalentTo(1))
			Expect(h.sim.Stats().IdempotentReplays).To(BeEquivalentTo(2))
			Expect(h.sim.CancelRequests("order-7000")).To(Equal(3))
		})

		It("keeps the key per payment: the same key on another payment's cancel executes there", func(ctx SpecContext) {
			otherKey := h.approved(ctx, "order-7003", 5000, "")
			Expect(cancel(ctx, `{"cancelReason":"r"}`, "Idempotency-Key", "k1").json).To(HaveKeyWithValue("status", "CANCELED"))
			r := h.send(ctx, "POST", "/v1/payments/"+otherKey+"/cancel", `{"cancelReason":"r"}`, "Idempotency-Key", "k1")
			Expect(r.json).To(HaveKeyWithValue("paymentKey", otherKey))
			Expect(r.json).To(HaveKeyWithValue("status", "CANCELED"))
		})

		It("leaves the key of a consecutive-request refusal free, so the same refund can be retried after the window", func(ctx SpecContext) {
			Expect(cancel(ctx, `{"cancelReason":"r","cancelAmount":1000}`, "Idempotency-Key", "r1").status).To(Equal(http.StatusOK))
			r := cancel(ctx, `{"cancelReason":"r","cancelAmount":2000}`, "Idempotency-Key", "r2")
			Expect(r.code()).To(Equal("FORBIDDEN_CONSECUTIVE_REQUEST"))
			h.now.Advance(time.Second)
			r = cancel(ctx, `{"cancelReason":"r","cancelAmount":2000}`, "Idempotency-Key", "r2")
			Expect(r.status).To(Equal(http.StatusOK), "%s", r.raw)
			Expect(r.json).To(HaveKeyWithValue("balanceAmount", json.Number("7000")))
		})

		It("replays an executed refusal to its key", func(ctx SpecContext) {
			first := cancel(ctx, `{"cancelReason":"r","cancelAmount":10001}`, "Idempotency-Key", "k1")
			Expect(first.code()).To(Equal("NOT_CANCELABLE_AMOUNT"))
			h.now.Advance(2 * time.Second)
			Expect(cancel(ctx, `{"cancelReason":"r","cancelAmount":100}`, "Idempotency-Key", "k1").raw).To(Equal(first.raw))
		})
	})

	Describe("faults", func() {
		It("answer a cancel with an injected 5xx or provider error without executing, and leave the key free", func(ctx SpecContext) {
			h.sim.SetFaults(tosssim.Faults{Rate5xx: 1})
			Expect(cancel(ctx, `{"cancelReason":"r"}`, "Idempotency-Key", "k1").code()).To(Equal("FAILED_INTERNAL_SYSTEM_PROCESSING"))
			h.sim.SetFaults(tosssim.Faults{RateProviderError: 1})
			Expect(cancel(ctx, `{"cancelReason":"r"}`, "Idempotency-Key", "k1").code()).To(Equal("PROVIDER_ERROR"))
			Expect(h.sim.Stats().Cancels).To(BeZero())
			Expect(h.sim.Stats().InjectedProviderErrors).To(BeEquivalentTo(1))

			h.sim.SetFaults(tosssim.Faults{})
			Expect(cancel(ctx, `{"cancelReason":"r"}`, "Idempotency-Key", "k1").json).To(HaveKeyWithValue("status", "CANCELED"))
		})

		It("drop a cancel's answer after executing it; the key then answers the kept cancel", func(ctx SpecContext) {
			h.sim.SetFaults(tosssim.Faults{RateDropAfterApprove: 1})
			r := cancel(ctx, `{"cancelReason":"r","cancelAmount":4000}`, "Idempotency-Key", "k1")
			Expect(r.status).To(BeZero(), "an answer arrived: %s", r.raw)
			Expect(h.sim.Stats().InjectedDrops).To(BeEquivalentTo(1))
			Expect(h.sim.Stats().Cancels).To(BeEquivalentTo(1))

			h.sim.SetFaults(tosssim.Faults{})
			r = cancel(ctx, `{"cancelReason":"r","cancelAmount":4000}`, "Idempotency-Key", "k1")
			Expect(r.json).To(HaveKeyWithValue("balanceAmount", json.Number("6000")))
			Expect(cancels(r)).To(HaveLen(1))
			Expect(h.sim.Stats().Cancels).To(BeEquivalentTo(1))
		})

		It("time a cancel out without executing it", func(ctx SpecContext) {
			h.sim.SetFaults(tosssim.Faults{RateTimeout: 1})
			callCtx, stop := context.WithTimeout(ctx, 100*time.Millisecond)
			defer stop()
			Expect(cancel(callCtx, `{"cancelReason":"r"}`).status).To(BeZero())
			Eventually(func() int64 { return h.sim.Stats().InjectedTimeouts }).WithContext(ctx).Should(BeEquivalentTo(1))
			Expect(h.sim.Stats().Cancels).To(BeZero())
		})
	})

	Describe("POST /sim/v1/payments/{paymentKey}/console-cancel", func() {
		console := func(ctx context.Context, body string) reply {
			return h.send(ctx, "POST", "/sim/v1/payments/"+key+"/console-cancel", body, "Authorization", "")
		}

		It("cancels as an operator in Toss's console would: no key, no idempotency, no faults, no consecutive-request window", func(ctx SpecContext) {
			h.sim.SetFaults(tosssim.Faults{Rate5xx: 1})
			r := console(ctx, `{"cancelAmount":3000,"cancelReason":"card company dispute"}`)
			Expect(r.status).To(Equal(http.StatusOK), "%s", r.raw)
			Expect(r.json).To(HaveKeyWithValue("status", "PARTIAL_CANCELED"))
			Expect(cancels(r)).To(ConsistOf(SatisfyAll(
				HaveKeyWithValue("cancelAmount", json.Number("3000")),
				HaveKeyWithValue("cancelReason", "card company dispute"),
				HaveKeyWithValue("transactionKey", Not(BeEmpty())),
				HaveKeyWithValue("cancelStatus", "DONE"),
			)))
			r = console(ctx, `{"cancelReason":"the rest"}`)
			Expect(r.json).To(HaveKeyWithValue("status", "CANCELED"))

			h.sim.SetFaults(tosssim.Faults{})
			lookup := h.send(ctx, "GET", "/v1/payments/orders/order-7000", "")
			Expect(lookup.json).To(HaveKeyWithValue("balanceAmount", json.Number("0")))
			Expect(cancels(lookup)).To(HaveLen(2))
			Expect(h.sim.Stats().ConsoleCancels).To(BeEquivalentTo(2))
			Expect(h.sim.Stats().Cancels).To(BeZero())
		})

		It("is then seen by the API: a cancel above what is left is refused", func(ctx SpecContext) {
			Expect(console(ctx, `{"cancelAmount":8000,"cancelReason":"console"}`).status).To(Equal(http.StatusOK))
			r := cancel(ctx, `{"cancelReason":"r","cancelAmount":4000}`)
			Expect(r.code()).To(Equal("NOT_CANCELABLE_AMOUNT"))
		})

		DescribeTable("follows Toss's rules",
			func(ctx SpecContext, body string, status int, code string) {
				Expect(console(ctx, `{"cancelReason":"first"}`).status).To(Equal(http.StatusOK))
				r := console(ctx, body)
				Expect(r.status).To(Equal(status))
				Expect(r.code()).To(Equal(code))
			},
			Entry("nothing left", `{"cancelReason":"again"}`, http.StatusBadRequest, "ALREADY_CANCELED_PAYMENT"),
			Entry("no reason", `{"cancelAmount":1}`, http.StatusBadRequest, "INVALID_REQUEST"),
		)

		It("answers 404 NOT_FOUND_PAYMENT for an unknown paymentKey", func(ctx SpecContext) {
			r := h.send(ctx, "POST", "/sim/v1/payments/tgen_nope/console-cancel", `{"cancelReason":"r"}`)
			Expect(r.status).To(Equal(http.StatusNotFound))
			Expect(r.code()).To(Equal("NOT_FOUND_PAYMENT"))
		})
	})
})
