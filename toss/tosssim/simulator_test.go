package tosssim_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/toss"
	"github.com/paystream/paystream/toss/tosssim"
)

const (
	testKey  = "test_sk_docs_OaPz8L5KdmQXkzRz3y47BMw6"
	otherKey = "test_sk_second_merchant"
)

func basic(key string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":")) }

// reply is a decoded simulator answer; numbers stay exact as json.Number.
type reply struct {
	status int
	raw    []byte
	json   map[string]any
}

func (r reply) code() any { return r.json["code"] }

// clock is a settable time source for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var _ = forEachStorage("Simulator", func(_ storage) {
	var (
		now    *clock
		sim    *tosssim.Simulator
		server *httptest.Server
	)

	start := func(opts tosssim.Options) {
		opts.Now = now.Now
		sim = newSimulator(opts)
		server = httptest.NewServer(sim)
		DeferCleanup(server.Close)
	}

	BeforeEach(func() {
		now = &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
		start(tosssim.Options{SecretKeys: []string{testKey, otherKey}, Seed: 7})
	})

	// send makes one request; headers are name/value pairs overriding the defaults
	// (Authorization with testKey, JSON content type); an empty value removes a header.
	send := func(ctx context.Context, method, path, body string, headers ...string) reply {
		GinkgoHelper()
		req, err := http.NewRequestWithContext(ctx, method, server.URL+path, strings.NewReader(body))
		Expect(err).NotTo(HaveOccurred())
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
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		r := reply{status: resp.StatusCode}
		r.raw, err = io.ReadAll(resp.Body)
		Expect(err).NotTo(HaveOccurred())
		dec := json.NewDecoder(bytes.NewReader(r.raw))
		dec.UseNumber()
		Expect(dec.Decode(&r.json)).To(Succeed(), "body %s", r.raw)
		return r
	}
	session := func(ctx context.Context, orderID string, amount int) string {
		GinkgoHelper()
		r := send(ctx, "POST", "/sim/v1/sessions", `{"orderId":"`+orderID+`","amount":`+strconv.Itoa(amount)+`}`)
		Expect(r.status).To(Equal(http.StatusCreated), "%s", r.raw)
		return r.json["paymentKey"].(string)
	}
	confirmBody := func(paymentKey, orderID string, amount int) string {
		return `{"paymentKey":"` + paymentKey + `","orderId":"` + orderID + `","amount":` + strconv.Itoa(amount) + `}`
	}

	Describe("POST /sim/v1/sessions", func() {
		It("issues a paymentKey for an IN_PROGRESS session that expires after 10 minutes", func(ctx SpecContext) {
			r := send(ctx, "POST", "/sim/v1/sessions", `{"orderId":"order-0001","amount":15000,"orderName":"T-shirt"}`, "Authorization", "")
			Expect(r.status).To(Equal(http.StatusCreated))
			Expect(r.json).To(HaveKeyWithValue("paymentKey", HavePrefix("tgen_")))
			Expect(r.json).To(HaveKeyWithValue("orderId", "order-0001"))
			Expect(r.json).To(HaveKeyWithValue("amount", json.Number("15000")))
			Expect(r.json).To(HaveKeyWithValue("status", "IN_PROGRESS"))
			Expect(r.json).To(HaveKeyWithValue("expiresAt", "2026-03-04T14:16:07+09:00"))
		})

		DescribeTable("refuses an invalid request with 400 INVALID_REQUEST",
			func(ctx SpecContext, body string) {
				r := send(ctx, "POST", "/sim/v1/sessions", body)
				Expect(r.status).To(Equal(http.StatusBadRequest))
				Expect(r.code()).To(Equal("INVALID_REQUEST"))
			},
			Entry("an orderId shorter than 6", `{"orderId":"ord-1","amount":1000}`),
			Entry("an orderId longer than 64", `{"orderId":"`+strings.Repeat("o", 65)+`","amount":1000}`),
			Entry("an orderId with other characters", `{"orderId":"order 0001!","amount":1000}`),
			Entry("an amount of 0", `{"orderId":"order-0001","amount":0}`),
			Entry("a fractional amount", `{"orderId":"order-0001","amount":1000.5}`),
			Entry("an amount as a string", `{"orderId":"order-0001","amount":"1000"}`),
			Entry("no amount", `{"orderId":"order-0001"}`),
			Entry("a body that is not JSON", `orderId=order-0001`),
		)

		It("replaces an unconfirmed session of the same order", func(ctx SpecContext) {
			oldKey := session(ctx, "order-0002", 1000)
			newKey := session(ctx, "order-0002", 2000)
			Expect(newKey).NotTo(Equal(oldKey))

			r := send(ctx, "POST", "/v1/payments/confirm", confirmBody(oldKey, "order-0002", 1000))
			Expect(r.status).To(Equal(http.StatusNotFound))
			Expect(r.code()).To(Equal("NOT_FOUND_PAYMENT_SESSION"))
			Expect(send(ctx, "GET", "/v1/payments/"+oldKey, "").code()).To(Equal("NOT_FOUND_PAYMENT"))

			r = send(ctx, "POST", "/v1/payments/confirm", confirmBody(newKey, "order-0002", 2000))
			Expect(r.status).To(Equal(http.StatusOK))
		})

		It("refuses a session for an order already paid, over HTTP and in Go", func(ctx SpecContext) {
			key := session(ctx, "order-0003", 1000)
			Expect(send(ctx, "POST", "/v1/payments/confirm", confirmBody(key, "order-0003", 1000)).status).To(Equal(http.StatusOK))

			r := send(ctx, "POST", "/sim/v1/sessions", `{"orderId":"order-0003","amount":1000}`)
			Expect(r.status).To(Equal(http.StatusConflict))
			Expect(r.code()).To(Equal("ALREADY_PROCESSED_PAYMENT"))
			_, err := sim.CreateSession("order-0003", decimal.NewFromInt(1000))
			Expect(err).To(MatchError(ContainSubstring("ALREADY_PROCESSED_PAYMENT")))
			Expect(sim.Approvals("order-0003")).To(Equal(1))
		})

		It("records the method, given in Korean or English, and keeps unknown ones", func(ctx SpecContext) {
			for orderID, method := range map[string]string{"order-easy-ko": "간편결제", "order-easy-en": "EASY_PAY", "order-future": "FUTURE_PAY"} {
				r := send(ctx, "POST", "/sim/v1/sessions", `{"orderId":"`+orderID+`","amount":1000,"method":"`+method+`"}`)
				Expect(r.status).To(Equal(http.StatusCreated))
			}
			for orderID, want := range map[string]toss.Method{"order-easy-ko": toss.MethodEasyPay, "order-easy-en": toss.MethodEasyPay, "order-future": "FUTURE_PAY"} {
				p, ok := sim.Payment(orderID)
				Expect(ok).To(BeTrue())
				Expect(p.Method).To(Equal(want))
			}
			Expect(send(ctx, "GET", "/v1/payments/orders/order-easy-en", "").json).To(HaveKeyWithValue("method", "간편결제"))
		})
	})

	Describe("Toss's amount limits", func() {
		DescribeTable("refuses a session outside them with Toss's code and 400",
			func(ctx SpecContext, amount, method, code string) {
				r := send(ctx, "POST", "/sim/v1/sessions", `{"orderId":"order-limit","amount":`+amount+`,"method":"`+method+`"}`)
				Expect(r.status).To(Equal(http.StatusBadRequest), "%s", r.raw)
				Expect(r.code()).To(Equal(code))
				_, found := sim.Payment("order-limit")
				Expect(found).To(BeFalse())
			},
			Entry("99 KRW by card", "99", "CARD", "BELOW_MINIMUM_AMOUNT"),
			Entry("199 KRW by transfer", "199", "계좌이체", "BELOW_MINIMUM_AMOUNT"),
			Entry("199 KRW to a virtual account", "199", "VIRTUAL_ACCOUNT", "BELOW_MINIMUM_AMOUNT"),
			Entry("one won over the contract's maximum", "100000001", "CARD", "EXCEED_MAX_AMOUNT"),
			Entry("1.4×10^24 KRW", "1431655765333333333333333", "CARD", "EXCEED_MAX_AMOUNT"),
		)

		DescribeTable("issues a session at them",
			func(ctx SpecContext, amount int, method string) {
				r := send(ctx, "POST", "/sim/v1/sessions", `{"orderId":"order-limit","amount":`+strconv.Itoa(amount)+`,"method":"`+method+`"}`)
				Expect(r.status).To(Equal(http.StatusCreated), "%s", r.raw)
			},
			Entry("100 KRW by card", 100, "CARD"),
			Entry("200 KRW by transfer", 200, "TRANSFER"),
			Entry("the contract's maximum", tosssim.DefaultMaxAmount, "CARD"),
		)

		It("refuses a confirm outside them before looking for the session, and approves nothing", func(ctx SpecContext) {
			key := session(ctx, "order-limit", 15000)
			r := send(ctx, "POST", "/v1/payments/confirm", `{"paymentKey":"`+key+`","orderId":"order-limit","amount":99}`)
			Expect(r.status).To(Equal(http.StatusBadRequest))
			Expect(r.code()).To(Equal("BELOW_MINIMUM_AMOUNT"))
			r = send(ctx, "POST", "/v1/payments/confirm", `{"paymentKey":"tgen_nobody","orderId":"order-limit","amount":1431655765333333333333333}`)
			Expect(r.status).To(Equal(http.StatusBadRequest))
			Expect(r.code()).To(Equal("EXCEED_MAX_AMOUNT"))
			Expect(sim.Approvals("order-limit")).To(BeZero())
		})

		It("answers Test-Codes of the confirm declines with Toss's status", func(ctx SpecContext) {
			key := session(ctx, "order-limit", 15000)
			for code, status := range map[string]int{"EXCEED_MAX_CARD_INSTALLMENT_PLAN": 400, "NOT_ALLOWED_POINT_USE": 400,
				"REJECT_TOSSPAY_INVALID_ACCOUNT": 403, "EXCEED_MAX_AMOUNT": 400, "BELOW_MINIMUM_AMOUNT": 400} {
				r := send(ctx, "POST", "/v1/payments/confirm", confirmBody(key, "order-limit", 15000), "TossPayments-Test-Code", code)
				Expect(r.status).To(Equal(status), code)
				Expect(r.code()).To(Equal(code))
			}
		})

		Context("with a contract limit of 50,000 KRW", func() {
			BeforeEach(func() { start(tosssim.Options{SecretKeys: []string{testKey}, MaxAmount: 50_000}) })

			It("refuses above it, over HTTP and in Go", func(ctx SpecContext) {
				Expect(session(ctx, "order-limit", 50_000)).NotTo(BeEmpty())
				r := send(ctx, "POST", "/sim/v1/sessions", `{"orderId":"order-limit-2","amount":50001}`)
				Expect(r.code()).To(Equal("EXCEED_MAX_AMOUNT"))
				_, err := sim.CreateSession("order-limit-3", decimal.NewFromInt(50_001))
				Expect(err).To(MatchError(ContainSubstring("EXCEED_MAX_AMOUNT")))
				r = send(ctx, "POST", "/v1/payments/confirm", confirmBody("tgen_any", "order-limit-3", 50_001))
				Expect(r.status).To(Equal(http.StatusBadRequest))
				Expect(r.code()).To(Equal("EXCEED_MAX_AMOUNT"))
			})
		})
	})

	Describe("authentication", func() {
		DescribeTable("refuses a request without a valid secret key",
			func(ctx SpecContext, authorization string, status int, code string) {
				r := send(ctx, "GET", "/v1/payments/orders/order-0001", "", "Authorization", authorization)
				Expect(r.status).To(Equal(status))
				Expect(r.code()).To(Equal(code))
			},
			Entry("no header", "", http.StatusUnauthorized, "UNAUTHORIZED_KEY"),
			Entry("another scheme", "Bearer "+testKey, http.StatusForbidden, "INCORRECT_BASIC_AUTH_FORMAT"),
			Entry("garbage", "Basic !!!", http.StatusForbidden, "INCORRECT_BASIC_AUTH_FORMAT"),
			Entry("no colon after the key", "Basic "+base64.StdEncoding.EncodeToString([]byte(testKey)), http.StatusForbidden, "INCORRECT_BASIC_AUTH_FORMAT"),
			Entry("an unregistered key", basic("test_sk_unregistered"), http.StatusUnauthorized, "UNAUTHORIZED_KEY"),
		)

		Context("without configured keys", func() {
			BeforeEach(func() { start(tosssim.Options{}) })

			It("accepts any test key and refuses live keys", func(ctx SpecContext) {
				for _, key := range []string{"test_sk_anything", "test_gsk_widget"} {
					Expect(send(ctx, "GET", "/v1/payments/orders/order-0001", "", "Authorization", basic(key)).code()).To(Equal("NOT_FOUND_PAYMENT"))
				}
				Expect(send(ctx, "GET", "/v1/payments/orders/order-0001", "", "Authorization", basic("live_sk_real")).code()).To(Equal("UNAUTHORIZED_KEY"))
			})
		})
	})

	Describe("POST /v1/payments/confirm", func() {
		var paymentKey string
		BeforeEach(func(ctx SpecContext) { paymentKey = session(ctx, "order-1000", 15000) })

		It("answers the Toss Payment object in Korean by default", func(ctx SpecContext) {
			now.Advance(time.Minute)
			r := send(ctx, "POST", "/v1/payments/confirm", confirmBody(paymentKey, "order-1000", 15000))
			Expect(r.status).To(Equal(http.StatusOK))
			Expect(r.json).To(SatisfyAll(
				HaveKeyWithValue("paymentKey", paymentKey),
				HaveKeyWithValue("orderId", "order-1000"),
				HaveKeyWithValue("status", "DONE"),
				HaveKeyWithValue("method", "카드"),
				HaveKeyWithValue("currency", "KRW"),
				HaveKeyWithValue("version", "2022-11-16"),
				HaveKeyWithValue("totalAmount", json.Number("15000")),
				HaveKeyWithValue("balanceAmount", json.Number("15000")),
				HaveKeyWithValue("suppliedAmount", json.Number("13636")),
				HaveKeyWithValue("vat", json.Number("1364")),
				HaveKeyWithValue("requestedAt", "2026-03-04T14:06:07+09:00"),
				HaveKeyWithValue("approvedAt", "2026-03-04T14:07:07+09:00"),
			))
		})

		It("refuses an orderId that is not the paymentKey's with 400 UNAPPROVED_ORDER_ID", func(ctx SpecContext) {
			session(ctx, "order-1001", 15000)
			r := send(ctx, "POST", "/v1/payments/confirm", confirmBody(paymentKey, "order-1001", 15000))
			Expect(r.status).To(Equal(http.StatusBadRequest))
			Expect(r.code()).To(Equal("UNAPPROVED_ORDER_ID"))
		})

		It("refuses an Idempotency-Key over 300 characters with 400 INVALID_IDEMPOTENCY_KEY", func(ctx SpecContext) {
			r := send(ctx, "POST", "/v1/payments/confirm", confirmBody(paymentKey, "order-1000", 15000), "Idempotency-Key", strings.Repeat("k", 301))
			Expect(r.status).To(Equal(http.StatusBadRequest))
			Expect(r.code()).To(Equal("INVALID_IDEMPOTENCY_KEY"))
			Expect(sim.Approvals("order-1000")).To(BeZero())
		})

		It("refuses a malformed body with 400 INVALID_REQUEST and keeps the key free for the corrected retry", func(ctx SpecContext) {
			r := send(ctx, "POST", "/v1/payments/confirm", `{"paymentKey":"`+paymentKey+`","orderId":"order-1000","amount":"15000"}`, "Idempotency-Key", "k1")
			Expect(r.status).To(Equal(http.StatusBadRequest))
			Expect(r.code()).To(Equal("INVALID_REQUEST"))

			r = send(ctx, "POST", "/v1/payments/confirm", confirmBody(paymentKey, "order-1000", 15000), "Idempotency-Key", "k1")
			Expect(r.status).To(Equal(http.StatusOK))
			Expect(sim.ConfirmRequests("order-1000")).To(Equal(2))
		})

		It("replays an executed refusal to its key, as Toss replays the first answer", func(ctx SpecContext) {
			first := send(ctx, "POST", "/v1/payments/confirm", confirmBody(paymentKey, "order-1000", 14000), "Idempotency-Key", "k1")
			Expect(first.code()).To(Equal("INVALID_REQUEST"))
			again := send(ctx, "POST", "/v1/payments/confirm", confirmBody(paymentKey, "order-1000", 15000), "Idempotency-Key", "k1")
			Expect(again.status).To(Equal(first.status))
			Expect(again.raw).To(Equal(first.raw))
			Expect(sim.Approvals("order-1000")).To(BeZero())
		})

		It("scopes idempotency keys by secret key", func(ctx SpecContext) {
			Expect(send(ctx, "POST", "/v1/payments/confirm", confirmBody(paymentKey, "order-1000", 15000), "Idempotency-Key", "k1").status).To(Equal(http.StatusOK))
			r := send(ctx, "POST", "/v1/payments/confirm", confirmBody(paymentKey, "order-1000", 15000), "Idempotency-Key", "k1", "Authorization", basic(otherKey))
			Expect(r.code()).To(Equal("ALREADY_PROCESSED_PAYMENT"))
		})

		It("forgets idempotency keys after 15 days", func(ctx SpecContext) {
			first := send(ctx, "POST", "/v1/payments/confirm", confirmBody(paymentKey, "order-1000", 15000), "Idempotency-Key", "k1")
			Expect(first.status).To(Equal(http.StatusOK))
			now.Advance(15*24*time.Hour - time.Second)
			Expect(send(ctx, "POST", "/v1/payments/confirm", confirmBody(paymentKey, "order-1000", 15000), "Idempotency-Key", "k1").raw).To(Equal(first.raw))
			now.Advance(time.Second)
			Expect(send(ctx, "POST", "/v1/payments/confirm", confirmBody(paymentKey, "order-1000", 15000), "Idempotency-Key", "k1").code()).To(Equal("ALREADY_PROCESSED_PAYMENT"))
			Expect(sim.Approvals("order-1000")).To(Equal(1))
		})

		It("forgets keys nobody uses again once they are 15 days old", func(ctx SpecContext) {
			Expect(send(ctx, "POST", "/v1/payments/confirm", confirmBody(paymentKey, "order-1000", 15000), "Idempotency-Key", "k1").status).To(Equal(http.StatusOK))
			Expect(sim.IdempotencyKeysHeld()).To(Equal(1))
			now.Advance(15*24*time.Hour + time.Hour)

			later := session(ctx, "order-1001", 15000)
			Expect(send(ctx, "POST", "/v1/payments/confirm", confirmBody(later, "order-1001", 15000), "Idempotency-Key", "k2").status).To(Equal(http.StatusOK))

			Expect(sim.IdempotencyKeysHeld()).To(Equal(1)) // k2 only
		})

		It("counts every confirm naming the order: refused, test-coded and replayed ones too", func(ctx SpecContext) {
			send(ctx, "POST", "/v1/payments/confirm", confirmBody(paymentKey, "order-1000", 1), "Idempotency-Key", "")
			send(ctx, "POST", "/v1/payments/confirm", confirmBody(paymentKey, "order-1000", 15000), "TossPayments-Test-Code", "INVALID_STOPPED_CARD")
			send(ctx, "POST", "/v1/payments/confirm", confirmBody(paymentKey, "order-1000", 15000), "Idempotency-Key", "k1")
			send(ctx, "POST", "/v1/payments/confirm", confirmBody(paymentKey, "order-1000", 15000), "Idempotency-Key", "k1")
			Expect(sim.ConfirmRequests("order-1000")).To(Equal(4))
			Expect(sim.Approvals("order-1000")).To(Equal(1))
			Expect(sim.ConfirmRequests("order-never")).To(BeZero())
		})
	})

	Describe("lookups", func() {
		It("ignore Idempotency-Key and always answer the current state", func(ctx SpecContext) {
			key := session(ctx, "order-2000", 1000)
			Expect(send(ctx, "GET", "/v1/payments/"+key, "", "Idempotency-Key", "k1").json).To(HaveKeyWithValue("status", "IN_PROGRESS"))
			send(ctx, "POST", "/v1/payments/confirm", confirmBody(key, "order-2000", 1000))
			Expect(send(ctx, "GET", "/v1/payments/"+key, "", "Idempotency-Key", "k1").json).To(HaveKeyWithValue("status", "DONE"))
		})

		It("answer English enums for Accept-Language en-US", func(ctx SpecContext) {
			session(ctx, "order-2001", 1000)
			Expect(send(ctx, "GET", "/v1/payments/orders/order-2001", "", "Accept-Language", "en-US").json).To(HaveKeyWithValue("method", "CARD"))
		})

		It("answer a Test-Code with its status", func(ctx SpecContext) {
			r := send(ctx, "GET", "/v1/payments/orders/order-2002", "", "TossPayments-Test-Code", "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING")
			Expect(r.status).To(Equal(http.StatusInternalServerError))
			Expect(r.code()).To(Equal("FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING"))
		})
	})

	Describe("POST /v1/payments/{paymentKey}/cancel", func() {
		var paymentKey string
		BeforeEach(func(ctx SpecContext) { paymentKey = session(ctx, "order-3000", 10000) })
		cancel := func(ctx context.Context, body string) reply {
			return send(ctx, "POST", "/v1/payments/"+paymentKey+"/cancel", body)
		}

		It("refuses to cancel a payment that is not approved with 403 NOT_CANCELABLE_PAYMENT", func(ctx SpecContext) {
			r := cancel(ctx, `{"cancelReason":"r"}`)
			Expect(r.status).To(Equal(http.StatusForbidden))
			Expect(r.code()).To(Equal("NOT_CANCELABLE_PAYMENT"))
		})

		Context("once approved", func() {
			BeforeEach(func(ctx SpecContext) {
				Expect(send(ctx, "POST", "/v1/payments/confirm", confirmBody(paymentKey, "order-3000", 10000)).status).To(Equal(http.StatusOK))
			})

			DescribeTable("refuses an invalid cancel with 400 INVALID_REQUEST",
				func(ctx SpecContext, body string) {
					r := cancel(ctx, body)
					Expect(r.status).To(Equal(http.StatusBadRequest))
					Expect(r.code()).To(Equal("INVALID_REQUEST"))
				},
				Entry("no reason", `{"cancelAmount":1000}`),
				Entry("a zero amount", `{"cancelReason":"r","cancelAmount":0}`),
				Entry("a fractional amount", `{"cancelReason":"r","cancelAmount":10.5}`),
			)

			It("refuses a second full cancel with 400 ALREADY_CANCELED_PAYMENT", func(ctx SpecContext) {
				Expect(cancel(ctx, `{"cancelReason":"r"}`).json).To(HaveKeyWithValue("status", "CANCELED"))
				now.Advance(time.Second)
				r := cancel(ctx, `{"cancelReason":"r"}`)
				Expect(r.status).To(Equal(http.StatusBadRequest))
				Expect(r.code()).To(Equal("ALREADY_CANCELED_PAYMENT"))
			})

			It("answers 404 NOT_FOUND_PAYMENT for an unknown paymentKey", func(ctx SpecContext) {
				r := send(ctx, "POST", "/v1/payments/tgen_nope/cancel", `{"cancelReason":"r"}`)
				Expect(r.status).To(Equal(http.StatusNotFound))
				Expect(r.code()).To(Equal("NOT_FOUND_PAYMENT"))
			})
		})
	})

	Describe("faults", func() {
		It("are set and read over HTTP, with latencies as duration strings", func(ctx SpecContext) {
			r := send(ctx, "PUT", "/sim/v1/faults", `{"latencyMin":"5ms","latencyMax":"20ms","rate5xx":0.1,"rateTimeout":0.05,"rateDropAfterApprove":0.02,"rateProviderError":0.03}`)
			Expect(r.status).To(Equal(http.StatusOK), "%s", r.raw)
			r = send(ctx, "GET", "/sim/v1/faults", "")
			var f tosssim.Faults
			Expect(json.Unmarshal(r.raw, &f)).To(Succeed())
			Expect(f).To(Equal(tosssim.Faults{LatencyMin: 5 * time.Millisecond, LatencyMax: 20 * time.Millisecond, Rate5xx: 0.1, RateTimeout: 0.05, RateDropAfterApprove: 0.02, RateProviderError: 0.03}))
		})

		DescribeTable("refuse invalid values with 400 and keep the faults in force",
			func(ctx SpecContext, body string) {
				r := send(ctx, "PUT", "/sim/v1/faults", body)
				Expect(r.status).To(Equal(http.StatusBadRequest))
				Expect(r.code()).To(Equal("INVALID_REQUEST"))
				Expect(send(ctx, "GET", "/sim/v1/faults", "").json).To(HaveKeyWithValue("rate5xx", json.Number("0")))
			},
			Entry("a rate above 1", `{"rate5xx":1.5}`),
			Entry("rates adding up to more than 1", `{"rate5xx":0.6,"rateTimeout":0.6}`),
			Entry("a negative rate", `{"rateTimeout":-0.1}`),
			Entry("a latency range upside down", `{"latencyMin":"20ms","latencyMax":"5ms"}`),
			Entry("a latency that is not a duration", `{"latencyMin":"soon"}`),
			Entry("a misspelt field", `{"rate500":0.5}`),
		)

		It("panic in SetFaults when invalid", func() {
			Expect(func() { sim.SetFaults(tosssim.Faults{Rate5xx: 2}) }).To(PanicWith(ContainSubstring("rate5xx")))
		})

		It("are reproducible for a seed", func(ctx SpecContext) {
			statuses := func(seed int64) []int {
				start(tosssim.Options{SecretKeys: []string{testKey}, Seed: seed, Faults: tosssim.Faults{Rate5xx: 0.5}})
				var got []int
				for range 40 {
					got = append(got, send(ctx, "GET", "/v1/payments/orders/order-4000", "").status)
				}
				return got
			}
			first := statuses(42)
			Expect(first).To(ContainElements(http.StatusInternalServerError, http.StatusNotFound))
			Expect(statuses(42)).To(Equal(first))
			Expect(statuses(43)).NotTo(Equal(first))
		})

		It("hit lookups with 5xx but not with confirm-only provider errors", func(ctx SpecContext) {
			sim.SetFaults(tosssim.Faults{RateProviderError: 1})
			Expect(send(ctx, "GET", "/v1/payments/orders/order-4001", "").code()).To(Equal("NOT_FOUND_PAYMENT"))
			sim.SetFaults(tosssim.Faults{Rate5xx: 1})
			Expect(send(ctx, "GET", "/v1/payments/orders/order-4001", "").code()).To(Equal("FAILED_INTERNAL_SYSTEM_PROCESSING"))
		})

		It("free the idempotency key when nothing was executed", func(ctx SpecContext) {
			key := session(ctx, "order-4002", 1000)
			sim.SetFaults(tosssim.Faults{RateProviderError: 1})
			Expect(send(ctx, "POST", "/v1/payments/confirm", confirmBody(key, "order-4002", 1000), "Idempotency-Key", "k1").code()).To(Equal("PROVIDER_ERROR"))
			sim.SetFaults(tosssim.Faults{})
			Expect(send(ctx, "POST", "/v1/payments/confirm", confirmBody(key, "order-4002", 1000), "Idempotency-Key", "k1").status).To(Equal(http.StatusOK))
		})
	})

	Describe("GET /sim/v1/stats", func() {
		It("reports running totals", func(ctx SpecContext) {
			key := session(ctx, "order-5000", 1000)
			send(ctx, "POST", "/v1/payments/confirm", confirmBody(key, "order-5000", 1000), "Idempotency-Key", "k1")
			send(ctx, "POST", "/v1/payments/confirm", confirmBody(key, "order-5000", 1000), "Idempotency-Key", "k1")
			send(ctx, "POST", "/v1/payments/confirm", confirmBody(key, "order-5000", 1000), "TossPayments-Test-Code", "REJECT_CARD_COMPANY")
			var stats tosssim.Stats
			Expect(json.Unmarshal(send(ctx, "GET", "/sim/v1/stats", "").raw, &stats)).To(Succeed())
			Expect(stats).To(Equal(tosssim.Stats{ConfirmRequests: 3, Approvals: 1, IdempotentReplays: 1, SessionsCreated: 1, TestCodeAnswers: 1}))
			Expect(sim.Stats()).To(Equal(stats))
		})
	})

	Describe("Payment", func() {
		It("returns the payment as a lookup would, or false", func(ctx SpecContext) {
			_, ok := sim.Payment("order-6000")
			Expect(ok).To(BeFalse())
			key, err := sim.CreateSession("order-6000", decimal.NewFromInt(2500))
			Expect(err).NotTo(HaveOccurred())
			p, ok := sim.Payment("order-6000")
			Expect(ok).To(BeTrue())
			Expect(p.PaymentKey).To(Equal(key))
			Expect(p.Status).To(Equal(toss.StatusInProgress))
			Expect(p.TotalAmount.Equal(decimal.NewFromInt(2500))).To(BeTrue())

			now.Advance(10 * time.Minute)
			p, _ = sim.Payment("order-6000")
			Expect(p.Status).To(Equal(toss.StatusExpired))
		})
	})
})
