package toss_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/toss"
	"github.com/paystream/paystream/toss/tosssim"
)

const testKey toss.SecretKey = "test_sk_docs_OaPz8L5KdmQXkzRz3y47BMw6"

func krw(n int64) decimal.Decimal { return decimal.NewFromInt(n) }

// apiError returns the *toss.APIError in err, failing the spec if there is none.
func apiError(err error) *toss.APIError {
	GinkgoHelper()
	var apiErr *toss.APIError
	Expect(errors.As(err, &apiErr)).To(BeTrue(), "want *toss.APIError, got %v", err)
	return apiErr
}

// expectTransportError asserts err is a failure to hear from Toss, not an answer.
func expectTransportError(err error) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred())
	var apiErr *toss.APIError
	Expect(errors.As(err, &apiErr)).To(BeFalse(), "want a transport error, got %v", err)
	Expect(errors.Is(err, toss.ErrMalformedResponse)).To(BeFalse())
}

// headerTransport adds fixed headers to every request.
type headerTransport map[string]string

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}

var _ = Describe("Client against the simulator", func() {
	var (
		now    *clock
		sim    *tosssim.Simulator
		server *httptest.Server
		client *toss.Client
	)

	BeforeEach(func() {
		now = newClock()
		sim = tosssim.New(tosssim.Options{SecretKeys: []string{string(testKey)}, Now: now.Now, Seed: 1})
		server = httptest.NewServer(sim)
		DeferCleanup(server.Close)
		client = toss.NewClient(server.URL, testKey)
	})

	authorise := func(orderID string, amount int64) string {
		GinkgoHelper()
		key, err := sim.CreateSession(orderID, krw(amount))
		Expect(err).NotTo(HaveOccurred())
		return key
	}

	Describe("Confirm", func() {
		var paymentKey string
		BeforeEach(func() { paymentKey = authorise("order-1001", 15000) })

		Context("with no Accept-Language (Korean enums)", func() {
			It("returns the DONE payment with the method normalised to its English code", func(ctx SpecContext) {
				p, err := client.Confirm(ctx, toss.ConfirmRequest{PaymentKey: paymentKey, OrderID: "order-1001", Amount: krw(15000)}, "confirm-order-1001")
				Expect(err).NotTo(HaveOccurred())
				Expect(p.Status).To(Equal(toss.StatusDone))
				Expect(p.Method).To(Equal(toss.MethodCard))
				Expect(string(p.Raw)).To(ContainSubstring(`"method":"카드"`))
				Expect(p.PaymentKey).To(Equal(paymentKey))
				Expect(p.OrderID).To(Equal("order-1001"))
				Expect(p.TotalAmount.Equal(krw(15000))).To(BeTrue())
				Expect(p.BalanceAmount.Equal(krw(15000))).To(BeTrue())
				Expect(p.Currency).To(Equal("KRW"))
				Expect(p.ApprovedAt).NotTo(BeNil())
				Expect(p.ApprovedAt.Equal(now.Now())).To(BeTrue())
				_, offset := p.ApprovedAt.Zone()
				Expect(offset).To(Equal(9 * 60 * 60))
				Expect(p.LastTransactionKey).NotTo(BeEmpty())
				Expect(sim.Approvals("order-1001")).To(Equal(1))
			})
		})

		Context("with Accept-Language: en-US", func() {
			It("returns English enums, decoded the same way", func(ctx SpecContext) {
				client = toss.NewClient(server.URL, testKey, toss.WithAcceptLanguage("en-US"))
				p, err := client.Confirm(ctx, toss.ConfirmRequest{PaymentKey: paymentKey, OrderID: "order-1001", Amount: krw(15000)}, "")
				Expect(err).NotTo(HaveOccurred())
				Expect(string(p.Raw)).To(ContainSubstring(`"method":"CARD"`))
				Expect(p.Method).To(Equal(toss.MethodCard))
				Expect(p.Status).To(Equal(toss.StatusDone))
			})
		})

		Context("when the amount differs from what the buyer authorised", func() {
			It("is refused with 400 INVALID_REQUEST and captures nothing", func(ctx SpecContext) {
				_, err := client.Confirm(ctx, toss.ConfirmRequest{PaymentKey: paymentKey, OrderID: "order-1001", Amount: krw(14000)}, "k1")
				e := apiError(err)
				Expect(e.HTTPStatus).To(Equal(http.StatusBadRequest))
				Expect(e.Code).To(Equal("INVALID_REQUEST"))
				Expect(sim.Approvals("order-1001")).To(BeZero())
			})
		})

		Context("when the session has expired", func() {
			It("is refused with 404 NOT_FOUND_PAYMENT_SESSION and the payment shows EXPIRED", func(ctx SpecContext) {
				now.Advance(10*time.Minute + time.Second)
				_, err := client.Confirm(ctx, toss.ConfirmRequest{PaymentKey: paymentKey, OrderID: "order-1001", Amount: krw(15000)}, "k1")
				e := apiError(err)
				Expect(e.HTTPStatus).To(Equal(http.StatusNotFound))
				Expect(e.Code).To(Equal("NOT_FOUND_PAYMENT_SESSION"))

				p, err := client.PaymentByOrderID(ctx, "order-1001")
				Expect(err).NotTo(HaveOccurred())
				Expect(p.Status).To(Equal(toss.StatusExpired))
				Expect(p.ApprovedAt).To(BeNil())
			})
		})

		Context("when the secret key is unknown", func() {
			It("is refused with 401 UNAUTHORIZED_KEY and the error does not show the key", func(ctx SpecContext) {
				other := toss.SecretKey("test_sk_not_a_registered_key")
				_, err := toss.NewClient(server.URL, other).Confirm(ctx, toss.ConfirmRequest{PaymentKey: paymentKey, OrderID: "order-1001", Amount: krw(15000)}, "")
				e := apiError(err)
				Expect(e.HTTPStatus).To(Equal(http.StatusUnauthorized))
				Expect(e.Code).To(Equal("UNAUTHORIZED_KEY"))
				Expect(err.Error()).NotTo(ContainSubstring(string(other)))
			})
		})
	})

	Describe("idempotency", func() {
		var paymentKey string
		BeforeEach(func() { paymentKey = authorise("order-2002", 30000) })

		confirm := func(ctx context.Context, amount int64, key string) (toss.Payment, error) {
			return client.Confirm(ctx, toss.ConfirmRequest{PaymentKey: paymentKey, OrderID: "order-2002", Amount: krw(amount)}, key)
		}

		Context("when a completed request is repeated with its key", func() {
			It("replays the first response byte for byte without executing again, whatever the body", func(ctx SpecContext) {
				first, err := confirm(ctx, 30000, "confirm-order-2002")
				Expect(err).NotTo(HaveOccurred())
				now.Advance(time.Minute)

				again, err := confirm(ctx, 1, "confirm-order-2002")
				Expect(err).NotTo(HaveOccurred())
				Expect(again.Raw).To(Equal(first.Raw))
				Expect(sim.Approvals("order-2002")).To(Equal(1))
				Expect(sim.ConfirmRequests("order-2002")).To(Equal(2))
			})
		})

		Context("when it is repeated without a key, or with another key", func() {
			It("is refused with 400 ALREADY_PROCESSED_PAYMENT", func(ctx SpecContext) {
				_, err := confirm(ctx, 30000, "confirm-order-2002")
				Expect(err).NotTo(HaveOccurred())

				for _, key := range []string{"", "another-key"} {
					_, err = confirm(ctx, 30000, key)
					e := apiError(err)
					Expect(e.HTTPStatus).To(Equal(http.StatusBadRequest))
					Expect(e.Code).To(Equal("ALREADY_PROCESSED_PAYMENT"))
				}
				Expect(sim.Approvals("order-2002")).To(Equal(1))
			})
		})

		Context("when it is repeated while the first is still in flight", func() {
			It("answers 409 IDEMPOTENT_REQUEST_PROCESSING, and the key is free again once the first is abandoned", func(ctx SpecContext) {
				sim.SetFaults(tosssim.Faults{RateTimeout: 1}) // whichever request claims the key hangs
				hangCtx, abandon := context.WithCancel(ctx)
				defer abandon()
				results := make(chan error, 2)
				for range 2 {
					go func() {
						_, err := confirm(hangCtx, 30000, "confirm-order-2002")
						results <- err
					}()
				}

				var err error
				Eventually(results).WithContext(ctx).Should(Receive(&err))
				e := apiError(err)
				Expect(e.HTTPStatus).To(Equal(http.StatusConflict))
				Expect(e.Code).To(Equal("IDEMPOTENT_REQUEST_PROCESSING"))

				abandon()
				Eventually(results).WithContext(ctx).Should(Receive(&err))
				expectTransportError(err)
				Expect(sim.Approvals("order-2002")).To(BeZero())

				sim.SetFaults(tosssim.Faults{})
				Eventually(func() error { _, err := confirm(ctx, 30000, "confirm-order-2002"); return err }).
					WithContext(ctx).Should(Succeed())
				Expect(sim.Approvals("order-2002")).To(Equal(1))
			})
		})

		Context("when 50 confirms with the same key race", func() {
			It("captures the money once; every answer is that approval or 409", func(ctx SpecContext) {
				const n = 50
				type result struct {
					p   toss.Payment
					err error
				}
				results := make(chan result, n)
				for range n {
					go func() {
						p, err := confirm(ctx, 30000, "confirm-order-2002")
						results <- result{p, err}
					}()
				}
				var approved []toss.Payment
				for range n {
					var r result
					Eventually(results).WithContext(ctx).Should(Receive(&r))
					if r.err != nil {
						Expect(apiError(r.err).Code).To(Equal("IDEMPOTENT_REQUEST_PROCESSING"))
						continue
					}
					Expect(r.p.Status).To(Equal(toss.StatusDone))
					approved = append(approved, r.p)
				}
				Expect(approved).NotTo(BeEmpty())
				for _, p := range approved {
					Expect(p.Raw).To(Equal(approved[0].Raw))
				}
				Expect(sim.Approvals("order-2002")).To(Equal(1))
				Expect(sim.ConfirmRequests("order-2002")).To(Equal(n))
			})
		})
	})

	Describe("lookups", func() {
		It("finds a payment by paymentKey and by orderId, before and after confirm", func(ctx SpecContext) {
			paymentKey := authorise("order-3003", 5000)

			p, err := client.PaymentByKey(ctx, paymentKey)
			Expect(err).NotTo(HaveOccurred())
			Expect(p.Status).To(Equal(toss.StatusInProgress))

			_, err = client.Confirm(ctx, toss.ConfirmRequest{PaymentKey: paymentKey, OrderID: "order-3003", Amount: krw(5000)}, "")
			Expect(err).NotTo(HaveOccurred())

			byKey, err := client.PaymentByKey(ctx, paymentKey)
			Expect(err).NotTo(HaveOccurred())
			byOrder, err := client.PaymentByOrderID(ctx, "order-3003")
			Expect(err).NotTo(HaveOccurred())
			Expect(byKey.Raw).To(Equal(byOrder.Raw))
			Expect(byOrder.Status).To(Equal(toss.StatusDone))
			Expect(byOrder.PaymentKey).To(Equal(paymentKey))
		})

		It("answers 404 NOT_FOUND_PAYMENT for an unknown payment", func(ctx SpecContext) {
			_, err := client.PaymentByOrderID(ctx, "order-unknown")
			Expect(apiError(err).Code).To(Equal("NOT_FOUND_PAYMENT"))
			_, err = client.PaymentByKey(ctx, "tgen_unknown")
			e := apiError(err)
			Expect(e.HTTPStatus).To(Equal(http.StatusNotFound))
			Expect(e.Code).To(Equal("NOT_FOUND_PAYMENT"))
		})
	})

	Describe("Cancel", func() {
		var paymentKey string
		BeforeEach(func(ctx SpecContext) {
			paymentKey = authorise("order-4004", 15000)
			_, err := client.Confirm(ctx, toss.ConfirmRequest{PaymentKey: paymentKey, OrderID: "order-4004", Amount: krw(15000)}, "")
			Expect(err).NotTo(HaveOccurred())
		})

		Context("without an amount", func() {
			It("cancels the whole payment", func(ctx SpecContext) {
				p, err := client.Cancel(ctx, paymentKey, toss.CancelRequest{Reason: "buyer changed mind"}, "cancel-1")
				Expect(err).NotTo(HaveOccurred())
				Expect(p.Status).To(Equal(toss.StatusCanceled))
				Expect(p.BalanceAmount.IsZero()).To(BeTrue())
				Expect(p.Cancels).To(HaveLen(1))
				c := p.Cancels[0]
				Expect(c.CancelAmount.Equal(krw(15000))).To(BeTrue())
				Expect(c.CancelReason).To(Equal("buyer changed mind"))
				Expect(c.CancelStatus).To(Equal("DONE"))
				Expect(c.CanceledAt.Equal(now.Now())).To(BeTrue())
				Expect(c.TransactionKey).To(Equal(p.LastTransactionKey))
			})
		})

		Context("with an amount", func() {
			It("cancels part of it, and the rest later", func(ctx SpecContext) {
				part := krw(4000)
				p, err := client.Cancel(ctx, paymentKey, toss.CancelRequest{Reason: "one item out of stock", Amount: &part}, "cancel-1")
				Expect(err).NotTo(HaveOccurred())
				Expect(p.Status).To(Equal(toss.StatusPartialCanceled))
				Expect(p.BalanceAmount.Equal(krw(11000))).To(BeTrue())

				now.Advance(time.Second)
				p, err = client.Cancel(ctx, paymentKey, toss.CancelRequest{Reason: "order withdrawn"}, "cancel-2")
				Expect(err).NotTo(HaveOccurred())
				Expect(p.Status).To(Equal(toss.StatusCanceled))
				Expect(p.Cancels).To(HaveLen(2))
				Expect(p.Cancels[1].CancelAmount.Equal(krw(11000))).To(BeTrue())
			})

			It("refuses more than the balance with 403 NOT_CANCELABLE_AMOUNT", func(ctx SpecContext) {
				tooMuch := krw(15001)
				_, err := client.Cancel(ctx, paymentKey, toss.CancelRequest{Reason: "typo", Amount: &tooMuch}, "")
				e := apiError(err)
				Expect(e.HTTPStatus).To(Equal(http.StatusForbidden))
				Expect(e.Code).To(Equal("NOT_CANCELABLE_AMOUNT"))
			})
		})

		Context("twice within a second", func() {
			It("processes only the first and refuses the second with 403 FORBIDDEN_CONSECUTIVE_REQUEST", func(ctx SpecContext) {
				part := krw(1000)
				_, err := client.Cancel(ctx, paymentKey, toss.CancelRequest{Reason: "first", Amount: &part}, "cancel-1")
				Expect(err).NotTo(HaveOccurred())
				now.Advance(999 * time.Millisecond)
				_, err = client.Cancel(ctx, paymentKey, toss.CancelRequest{Reason: "second", Amount: &part}, "cancel-2")
				e := apiError(err)
				Expect(e.HTTPStatus).To(Equal(http.StatusForbidden))
				Expect(e.Code).To(Equal("FORBIDDEN_CONSECUTIVE_REQUEST"))

				p, err := client.PaymentByKey(ctx, paymentKey)
				Expect(err).NotTo(HaveOccurred())
				Expect(p.Cancels).To(HaveLen(1))
			})
		})
	})

	Describe("the TossPayments-Test-Code header", func() {
		It("answers the named error with its HTTP status, without executing", func(ctx SpecContext) {
			paymentKey := authorise("order-5005", 15000)
			req := toss.ConfirmRequest{PaymentKey: paymentKey, OrderID: "order-5005", Amount: krw(15000)}
			for code, status := range map[string]int{
				"REJECT_CARD_COMPANY":               http.StatusForbidden,
				"INVALID_CARD_NUMBER":               http.StatusBadRequest,
				"FAILED_INTERNAL_SYSTEM_PROCESSING": http.StatusInternalServerError,
			} {
				testing := toss.NewClient(server.URL, testKey, toss.WithHTTPClient(&http.Client{
					Transport: headerTransport{"TossPayments-Test-Code": code},
				}))
				_, err := testing.Confirm(ctx, req, "confirm-order-5005")
				e := apiError(err)
				Expect(e.HTTPStatus).To(Equal(status), code)
				Expect(e.Code).To(Equal(code))
			}
			Expect(sim.Approvals("order-5005")).To(BeZero())

			_, err := client.Confirm(ctx, req, "confirm-order-5005")
			Expect(err).NotTo(HaveOccurred())
		})
	})

	Describe("injected faults", func() {
		var req toss.ConfirmRequest
		BeforeEach(func() {
			req = toss.ConfirmRequest{PaymentKey: authorise("order-6006", 15000), OrderID: "order-6006", Amount: krw(15000)}
		})

		Context("5xx", func() {
			It("is an *APIError 500 and nothing is captured", func(ctx SpecContext) {
				sim.SetFaults(tosssim.Faults{Rate5xx: 1})
				_, err := client.Confirm(ctx, req, "confirm-order-6006")
				e := apiError(err)
				Expect(e.HTTPStatus).To(Equal(http.StatusInternalServerError))
				Expect(e.Code).To(Equal("FAILED_INTERNAL_SYSTEM_PROCESSING"))
				Expect(sim.Approvals("order-6006")).To(BeZero())
			})
		})

		Context("provider error", func() {
			It("is an *APIError 400 PROVIDER_ERROR and nothing is captured", func(ctx SpecContext) {
				sim.SetFaults(tosssim.Faults{RateProviderError: 1})
				_, err := client.Confirm(ctx, req, "confirm-order-6006")
				Expect(apiError(err).Code).To(Equal("PROVIDER_ERROR"))
				Expect(sim.Approvals("order-6006")).To(BeZero())
			})
		})

		Context("timeout", func() {
			It("is a transport error at the caller's deadline, not an *APIError, and nothing is captured", func(ctx SpecContext) {
				sim.SetFaults(tosssim.Faults{RateTimeout: 1})
				callCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
				defer cancel()
				_, err := client.Confirm(callCtx, req, "confirm-order-6006")
				expectTransportError(err)
				Expect(errors.Is(err, context.DeadlineExceeded)).To(BeTrue())
				Expect(sim.Approvals("order-6006")).To(BeZero())
				Expect(sim.Stats().InjectedTimeouts).To(BeEquivalentTo(1))
			})
		})

		Context("drop after approve", func() {
			It("is a transport error although the money was captured, which a lookup reveals", func(ctx SpecContext) {
				By("warming up a keep-alive connection, on which net/http alone would resend the keyed POST")
				_, err := client.PaymentByOrderID(ctx, "order-6006")
				Expect(err).NotTo(HaveOccurred())

				sim.SetFaults(tosssim.Faults{RateDropAfterApprove: 1})
				_, err = client.Confirm(ctx, req, "confirm-order-6006")
				expectTransportError(err)
				Expect(sim.Approvals("order-6006")).To(Equal(1))
				Expect(sim.ConfirmRequests("order-6006")).To(Equal(1))

				p, err := client.PaymentByOrderID(ctx, "order-6006")
				Expect(err).NotTo(HaveOccurred())
				Expect(p.Status).To(Equal(toss.StatusDone))

				By("retrying with the same key, which answers the kept approval")
				p, err = client.Confirm(ctx, req, "confirm-order-6006")
				Expect(err).NotTo(HaveOccurred())
				Expect(p.Status).To(Equal(toss.StatusDone))
				Expect(sim.Approvals("order-6006")).To(Equal(1))
				Expect(sim.ConfirmRequests("order-6006")).To(Equal(2))
			})
		})

		Context("latency beyond the caller's deadline", func() {
			It("is a transport error, yet Toss goes on and captures the money", func(ctx SpecContext) {
				sim.SetFaults(tosssim.Faults{LatencyMin: 300 * time.Millisecond, LatencyMax: 300 * time.Millisecond})
				callCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
				defer cancel()
				_, err := client.Confirm(callCtx, req, "confirm-order-6006")
				expectTransportError(err)
				Eventually(func() int { return sim.Approvals("order-6006") }).WithContext(ctx).Should(Equal(1))
			})
		})
	})
})

var _ = Describe("Client on the wire", func() {
	var (
		requests chan *http.Request
		bodies   chan string
		client   *toss.Client
		server   *httptest.Server
	)

	const donePayment = `{"paymentKey":"pk_1","orderId":"order-1","status":"DONE","method":"카드","totalAmount":15000,"balanceAmount":15000,"requestedAt":"2026-01-02T12:04:05+09:00","approvedAt":"2026-01-02T12:04:06+09:00"}`

	BeforeEach(func() {
		requests = make(chan *http.Request, 10)
		bodies = make(chan string, 10)
		server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body bytes.Buffer
			body.ReadFrom(r.Body)
			requests <- r
			bodies <- body.String()
			w.Write([]byte(donePayment))
		}))
		DeferCleanup(server.Close)
		client = toss.NewClient(server.URL+"/", testKey)
	})

	It("sends Basic auth of the key and a colon, JSON, and the Idempotency-Key", func(ctx SpecContext) {
		_, err := client.Confirm(ctx, toss.ConfirmRequest{PaymentKey: "pk_1", OrderID: "order-1", Amount: krw(15000)}, "confirm-order-1")
		Expect(err).NotTo(HaveOccurred())
		var r *http.Request
		Expect(requests).To(Receive(&r))
		Expect(r.Method).To(Equal(http.MethodPost))
		Expect(r.URL.Path).To(Equal("/v1/payments/confirm"))
		// base64("test_sk_docs_OaPz8L5KdmQXkzRz3y47BMw6:"), trailing colon included.
		Expect(r.Header.Values("Authorization")).To(Equal([]string{"Basic dGVzdF9za19kb2NzX09hUHo4TDVLZG1RWGt6UnozeTQ3Qk13Njo="}))
		Expect(r.Header.Get("Content-Type")).To(Equal("application/json"))
		Expect(r.Header.Get("Idempotency-Key")).To(Equal("confirm-order-1"))
		Expect(r.Header.Values("Accept-Language")).To(BeEmpty())
		Expect(bodies).To(Receive(Equal(`{"paymentKey":"pk_1","orderId":"order-1","amount":15000}`)))
	})

	It("sends a cancel body with the amount as a JSON number, and none for a full cancel", func(ctx SpecContext) {
		part := decimal.RequireFromString("4000")
		_, err := client.Cancel(ctx, "pk_1", toss.CancelRequest{Reason: "partial", Amount: &part}, "")
		Expect(err).NotTo(HaveOccurred())
		_, err = client.Cancel(ctx, "pk_1", toss.CancelRequest{Reason: "full"}, "")
		Expect(err).NotTo(HaveOccurred())
		var r *http.Request
		Expect(requests).To(Receive(&r))
		Expect(r.URL.Path).To(Equal("/v1/payments/pk_1/cancel"))
		Expect(r.Header.Values("Idempotency-Key")).To(BeEmpty())
		Expect(bodies).To(Receive(Equal(`{"cancelReason":"partial","cancelAmount":4000}`)))
		Expect(bodies).To(Receive(Equal(`{"cancelReason":"full"}`)))
	})

	It("escapes path segments", func(ctx SpecContext) {
		_, err := client.PaymentByOrderID(ctx, "a/b?c d")
		Expect(err).NotTo(HaveOccurred())
		_, err = client.PaymentByKey(ctx, "../x")
		Expect(err).NotTo(HaveOccurred())
		var r *http.Request
		Expect(requests).To(Receive(&r))
		Expect(r.RequestURI).To(Equal("/v1/payments/orders/a%2Fb%3Fc%20d"))
		Expect(requests).To(Receive(&r))
		Expect(r.RequestURI).To(Equal("/v1/payments/..%2Fx"))
		Expect(r.Method).To(Equal(http.MethodGet))
	})

	It("refuses an idempotency key over 300 characters without sending anything", func(ctx SpecContext) {
		req := toss.ConfirmRequest{PaymentKey: "pk_1", OrderID: "order-1", Amount: krw(15000)}
		_, err := client.Confirm(ctx, req, strings.Repeat("k", 301))
		Expect(errors.Is(err, toss.ErrIdempotencyKeyTooLong)).To(BeTrue())
		Expect(requests).NotTo(Receive())

		_, err = client.Confirm(ctx, req, strings.Repeat("k", 300))
		Expect(err).NotTo(HaveOccurred())
	})

	It("never shows the secret key when printed or logged", func() {
		var logged bytes.Buffer
		slog.New(slog.NewJSONHandler(&logged, nil)).Info("configured", "key", testKey, "client", client)
		for _, s := range []string{
			fmt.Sprint(testKey), fmt.Sprintf("%v %+v %#v %s", testKey, testKey, testKey, testKey),
			fmt.Sprintf("%v %+v %s", client, client, client), logged.String(),
		} {
			Expect(s).NotTo(ContainSubstring(string(testKey)))
		}
		Expect(logged.String()).To(ContainSubstring(`"key":"[REDACTED]"`))
	})
})
