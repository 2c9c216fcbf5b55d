package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/httpapi"
)

// fakePayments answers with canned results and counts calls, so specs can tell that bad
// input never reached the service.
type fakePayments struct {
	calls        atomic.Int32
	err          error
	got          any
	meta         commands.Meta    // of the last Checkout or Resolve
	refundStatus aggregate.Status // of the refund Cancel answers with (default "": settled)
	confirmed    *aggregate.State // what Confirm answers with (default: UNKNOWN)
}

func (f *fakePayments) Checkout(_ context.Context, req commands.CheckoutRequest, m commands.Meta) (commands.Payment, error) {
	f.calls.Add(1)
	f.meta = m
	f.got = req
	return commands.Payment{State: aggregate.State{OrderID: "order-0001", Status: aggregate.StatusNotStarted}}, f.err
}

func (f *fakePayments) Confirm(_ context.Context, req commands.ConfirmRequest, _ commands.Meta) (commands.Payment, error) {
	f.calls.Add(1)
	f.got = req
	if f.confirmed != nil {
		return commands.Payment{State: *f.confirmed}, f.err
	}
	return commands.Payment{State: aggregate.State{OrderID: req.OrderID, Status: aggregate.StatusUnknown}}, f.err
}

func (f *fakePayments) Load(_ context.Context, orderID string) (commands.Payment, error) {
	f.calls.Add(1)
	return commands.Payment{}, f.err
}

func (f *fakePayments) Resolve(_ context.Context, r commands.Resolution, m commands.Meta) (commands.Payment, error) {
	f.calls.Add(1)
	f.meta = m
	f.got = r
	return commands.Payment{State: aggregate.State{OrderID: r.OrderID, Status: r.Resolution}}, f.err
}

func (f *fakePayments) Cancel(_ context.Context, req commands.CancelRequest, _ commands.Meta) (commands.Payment, error) {
	f.calls.Add(1)
	f.got = req
	st := aggregate.State{OrderID: req.OrderID, Status: aggregate.StatusPartialCanceled,
		Refunds: []aggregate.Refund{{ID: req.OrderID + "-r1", Amount: req.Amount, Status: f.refundStatus}}}
	return commands.Payment{State: st}, f.err
}

func (f *fakePayments) AllocateRefund(_ context.Context, a commands.Allocation, _ commands.Meta) (commands.Payment, error) {
	f.calls.Add(1)
	f.got = a
	return commands.Payment{State: aggregate.State{OrderID: a.OrderID}}, f.err
}

func (f *fakePayments) ResolveRefund(_ context.Context, r commands.RefundResolution, _ commands.Meta) (commands.Payment, error) {
	f.calls.Add(1)
	f.got = r
	return commands.Payment{State: aggregate.State{OrderID: r.OrderID}}, f.err
}

// fakeHints records accepted webhooks (offered: orderId and transmission id) and ignored
// ones; full makes it refuse to store them.
type fakeHints struct {
	offered  [][2]string
	accepted []commands.Webhook
	ignored  []string
	full     bool
}

func (h *fakeHints) Ignore(eventType, _ string) { h.ignored = append(h.ignored, eventType) }

func (h *fakeHints) Accept(_ context.Context, w commands.Webhook) error {
	if h.full {
		return commands.ErrInboxFull
	}
	h.offered = append(h.offered, [2]string{w.OrderID, w.TransmissionID})
	h.accepted = append(h.accepted, w)
	return nil
}

func (f *fakePayments) Events(_ context.Context, orderID string) ([]eventstore.RecordedEvent, error) {
	f.calls.Add(1)
	return nil, f.err
}

type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Field string `json:"field"`
	} `json:"errors"`
}

var _ = Describe("the HTTP API", func() {
	var (
		fake *fakePayments
		h    http.Handler
	)
	BeforeEach(func() {
		fake = &fakePayments{}
		h = httpapi.NewHandler(fake, httpapi.Options{})
	})

	do := func(method, path, body string, header ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		if req.Header.Get("Authorization") == "" {
			req.Header.Set("Authorization", "Bearer "+tokenFor(req.URL.Path).Reveal())
		}
		rec := httptest.NewRecorder()
		protected(h).ServeHTTP(rec, req)
		return rec
	}
	problemOf := func(rec *httptest.ResponseRecorder) problem {
		Expect(rec.Header().Get("Content-Type")).To(Equal("application/problem+json"))
		var p problem
		Expect(json.Unmarshal(rec.Body.Bytes(), &p)).To(Succeed())
		Expect(p.Status).To(Equal(rec.Code))
		return p
	}

	Context("with bad input", func() {
		DescribeTable("answers problem+json naming the field and calls nothing",
			func(path, body string, status int, field string) {
				rec := do(http.MethodPost, path, body)
				Expect(rec.Code).To(Equal(status))
				p := problemOf(rec)
				if field != "" {
					Expect(p.Errors).To(HaveLen(1))
					Expect(p.Errors[0].Field).To(Equal(field))
				}
				Expect(fake.calls.Load()).To(BeZero())
			},
			Entry("malformed JSON", "/v1/payments/confirm", `{"orderId":`, 400, ""),
			Entry("empty body", "/v1/payments/confirm", ``, 400, ""),
			Entry("not an object", "/v1/payments/confirm", `[1,2]`, 400, ""),
			Entry("trailing data", "/v1/payments/confirm", `{"orderId":"order-0001"} {}`, 400, ""),
			Entry("unknown field", "/v1/payments/confirm", `{"paymentKey":"pk","orderId":"order-0001","amount":1,"ammount":2}`, 400, "ammount"),
			Entry("wrong type", "/v1/payments/confirm", `{"paymentKey":7,"orderId":"order-0001","amount":1}`, 400, "paymentKey"),
			Entry("missing paymentKey", "/v1/payments/confirm", `{"orderId":"order-0001","amount":1}`, 400, "paymentKey"),
			Entry("missing orderId", "/v1/payments/confirm", `{"paymentKey":"pk","amount":1}`, 400, "orderId"),
			Entry("bad orderId", "/v1/payments/confirm", `{"paymentKey":"pk","orderId":"a b","amount":1}`, 400, "orderId"),
			Entry("missing amount", "/v1/payments/confirm", `{"paymentKey":"pk","orderId":"order-0001"}`, 400, "amount"),
			Entry("zero amount", "/v1/payments/confirm", `{"paymentKey":"pk","orderId":"order-0001","amount":0}`, 400, "amount"),
			Entry("fractional amount", "/v1/payments/confirm", `{"paymentKey":"pk","orderId":"order-0001","amount":10.5}`, 400, "amount"),
			Entry("non-numeric amount", "/v1/payments/confirm", `{"paymentKey":"pk","orderId":"order-0001","amount":"ten"}`, 400, ""),
			Entry("checkout without buyer", "/v1/checkout", `{"items":[{"productId":"p","quantity":1}]}`, 400, "buyerId"),
			Entry("checkout without items", "/v1/checkout", `{"buyerId":"b","items":[]}`, 400, "items"),
			Entry("checkout with a string quantity", "/v1/checkout", `{"buyerId":"b","items":[{"productId":"p","quantity":"1"}]}`, 400, "items[0].quantity"),

			// Strict JSON: one value per name, exact numbers, valid UTF-8.
			Entry("duplicate amount", "/v1/payments/confirm", `{"paymentKey":"pk","orderId":"order-0001","amount":1,"amount":61000}`, 400, "amount"),
			Entry("duplicate orderId", "/v1/payments/confirm", `{"paymentKey":"pk","orderId":"order-0001","orderId":"order-0002","amount":1}`, 400, "orderId"),
			Entry("amount with an exponent", "/v1/payments/confirm", `{"paymentKey":"pk","orderId":"order-0001","amount":6.1e4}`, 400, "amount"),
			Entry("amount with a zero fraction", "/v1/payments/confirm", `{"paymentKey":"pk","orderId":"order-0001","amount":61000.0}`, 400, "amount"),
			Entry("amount as a string", "/v1/payments/confirm", `{"paymentKey":"pk","orderId":"order-0001","amount":"61000.00"}`, 400, "amount"),
			Entry("amount beyond any float", "/v1/payments/confirm", `{"paymentKey":"pk","orderId":"order-0001","amount":1e400}`, 400, "amount"),
			Entry("amount of 10^25", "/v1/payments/confirm", `{"paymentKey":"pk","orderId":"order-0001","amount":10000000000000000000000000}`, 400, "amount"),
			Entry("negative amount", "/v1/payments/confirm", `{"paymentKey":"pk","orderId":"order-0001","amount":-5}`, 400, "amount"),
			Entry("amount with a leading zero", "/v1/payments/confirm", `{"paymentKey":"pk","orderId":"order-0001","amount":061000}`, 400, ""),
			Entry("null amount", "/v1/payments/confirm", `{"paymentKey":"pk","orderId":"order-0001","amount":null}`, 400, "amount"),
			Entry("invalid UTF-8 in a value", "/v1/checkout", "{\"buyerId\":\"b\xff\",\"items\":[{\"productId\":\"p\",\"quantity\":1}]}", 400, "buyerId"),
			Entry("quantity with an exponent", "/v1/checkout", `{"buyerId":"b","items":[{"productId":"p","quantity":1e3}]}`, 400, "items[0].quantity"),
			Entry("fractional quantity", "/v1/checkout", `{"buyerId":"b","items":[{"productId":"p","quantity":2.5}]}`, 400, "items[0].quantity"),
			Entry("quantity beyond int64", "/v1/checkout", `{"buyerId":"b","items":[{"productId":"p","quantity":99999999999999999999}]}`, 400, "items[0].quantity"),
			Entry("differently cased field", "/v1/checkout", `{"BuyerId":"b","items":[{"productId":"p","quantity":1}]}`, 400, "BuyerId"),

			// Text that could not be stored or shown faithfully.
			Entry("NUL in buyerId", "/v1/checkout", `{"buyerId":"b\u0000","items":[{"productId":"p","quantity":1}]}`, 400, "buyerId"),
			Entry("escape in buyerId", "/v1/checkout", `{"buyerId":"\u001b[31mb","items":[{"productId":"p","quantity":1}]}`, 400, "buyerId"),
			Entry("C1 control in buyerId", "/v1/checkout", `{"buyerId":"b\u0085","items":[{"productId":"p","quantity":1}]}`, 400, "buyerId"),
			Entry("blank buyerId", "/v1/checkout", `{"buyerId":"  ","items":[{"productId":"p","quantity":1}]}`, 400, "buyerId"),
			Entry("over-long buyerId", "/v1/checkout", `{"buyerId":"`+strings.Repeat("가", 101)+`","items":[{"productId":"p","quantity":1}]}`, 400, "buyerId"),
			Entry("newline in productId", "/v1/checkout", `{"buyerId":"b","items":[{"productId":"p\n","quantity":1}]}`, 400, "items[0].productId"),
			Entry("NUL in paymentKey", "/v1/payments/confirm", `{"paymentKey":"pk\u0000","orderId":"order-0001","amount":1}`, 400, "paymentKey"),
			Entry("NUL in a resolution's reason", "/admin/v1/payments/order-0001/resolve", `{"resolution":"FAILURE","actor":"ops","reason":"r\u0000"}`, 400, "reason"),
			Entry("NUL in a path's orderId", "/admin/v1/payments/order%00-0001/resolve", `{"resolution":"FAILURE","actor":"ops","reason":"r"}`, 400, "orderId"),
		)

		DescribeTable("refuses a malformed cancel naming the field",
			func(body string, field string) {
				p := problemOf(do(http.MethodPost, "/v1/payments/order-0001/cancel", body))
				Expect(p.Status).To(Equal(400))
				if field != "" {
					Expect(p.Errors[0].Field).To(Equal(field))
				}
				Expect(fake.calls.Load()).To(BeZero())
			},
			Entry("no reason", `{"cancelAmount":1000}`, "cancelReason"),
			Entry("a string amount", `{"cancelReason":"r","cancelAmount":"1000"}`, "cancelAmount"),
			Entry("a zero amount", `{"cancelReason":"r","cancelAmount":0}`, "cancelAmount"),
			Entry("a fractional split", `{"cancelReason":"r","cancelAmount":1000,"orders":[{"seq":1,"amount":999.5}]}`, "orders[0].amount"),
			Entry("a split without amount", `{"cancelReason":"r","cancelAmount":1000,"orders":[{"seq":1}]}`, "orders[0].amount"),
			Entry("a negative tax-free amount", `{"cancelReason":"r","taxFreeAmount":-1}`, "taxFreeAmount"),
			Entry("a duplicate amount", `{"cancelReason":"r","cancelAmount":1,"cancelAmount":1000}`, "cancelAmount"),
			Entry("an unknown field", `{"cancelReason":"r","amount":1000}`, "amount"),
		)

		It("passes a cancel through in Toss's terms, 202 while its outcome is unknown", func() {
			rec := do(http.MethodPost, "/v1/payments/order-0001/cancel", `{"cancelReason":"broken","cancelAmount":12500,
				"orders":[{"seq":2,"amount":12500}],"taxFreeAmount":0}`, "Idempotency-Key", "refund-1")
			Expect(rec.Code).To(Equal(http.StatusOK))
			Expect(fake.got).To(Equal(commands.CancelRequest{OrderID: "order-0001", Amount: decimal.NewFromInt(12500), Reason: "broken",
				Orders: []aggregate.RefundSplit{{Seq: 2, Amount: decimal.NewFromInt(12500)}}, TaxFreeAmount: decimal.RequireFromString("0"), IdempotencyKey: "refund-1"}))
			Expect(rec.Body.String()).To(ContainSubstring(`"status":"PARTIAL_CANCELED"`))
			fake.refundStatus = aggregate.StatusUnknown
			Expect(do(http.MethodPost, "/v1/payments/order-0001/cancel", `{"cancelReason":"broken"}`).Code).To(Equal(http.StatusAccepted))
		})

		DescribeTable("maps refund refusals",
			func(err error, status int, field string) {
				fake.err = err
				p := problemOf(do(http.MethodPost, "/v1/payments/order-0001/cancel", `{"cancelReason":"r"}`))
				Expect(p.Status).To(Equal(status))
				if field != "" {
					Expect(p.Errors[0].Field).To(Equal(field))
				}
			},
			Entry("above the balance", &aggregate.RefundError{Field: "cancelAmount", Message: "exceeds the balance"}, 422, "cancelAmount"),
			Entry("another refund open", fmt.Errorf("x: %w", aggregate.ErrRefundExecuting), 409, ""),
			Entry("a confirm running", fmt.Errorf("x: %w", aggregate.ErrExecuting), 409, ""),
			Entry("the key used for another request", commands.ErrIdempotencyKeyReused, 422, ""),
		)

		DescribeTable("refuses query text no payment can have, before asking the read model",
			func(path, field string) {
				p := problemOf(do(http.MethodGet, path, ""))
				Expect(p.Status).To(Equal(400))
				Expect(p.Errors[0].Field).To(Equal(field))
				Expect(fake.calls.Load()).To(BeZero())
			},
			Entry("NUL in a payment's orderId", "/v1/payments/order%00-1", "orderId"),
			Entry("NUL in an events orderId", "/v1/payments/order%00-1/events", "orderId"),
			Entry("an over-long orderId", "/v1/payments/"+strings.Repeat("a", 65), "orderId"),
		)

		It("refuses a huge body with 413", func() {
			rec := do(http.MethodPost, "/v1/checkout", `{"buyerId":"`+strings.Repeat("x", 1<<20)+`"}`)
			Expect(rec.Code).To(Equal(http.StatusRequestEntityTooLarge))
			problemOf(rec)
			Expect(fake.calls.Load()).To(BeZero())
		})

		It("refuses a non-JSON content type with 415", func() {
			req := httptest.NewRequest(http.MethodPost, "/v1/checkout", strings.NewReader(`buyerId=b`))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			Expect(rec.Code).To(Equal(http.StatusUnsupportedMediaType))
			Expect(fake.calls.Load()).To(BeZero())
		})

		It("refuses an over-long Idempotency-Key", func() {
			rec := do(http.MethodPost, "/v1/checkout", `{"buyerId":"b","items":[{"productId":"p","quantity":1}]}`,
				"Idempotency-Key", strings.Repeat("k", 301))
			Expect(problemOf(rec).Errors[0].Field).To(Equal("Idempotency-Key"))
			Expect(fake.calls.Load()).To(BeZero())
		})
	})

	Context("when the service answers", func() {
		It("passes Toss's field names, the amount exactly and the Idempotency-Key through", func() {
			rec := do(http.MethodPost, "/v1/payments/confirm", `{"paymentKey":"pk_1","orderId":"order-0001","amount":48500}`,
				"Idempotency-Key", "k-1")
			Expect(rec.Code).To(Equal(http.StatusAccepted), "UNKNOWN is 202")
			Expect(fake.got).To(Equal(commands.ConfirmRequest{OrderID: "order-0001", PaymentKey: "pk_1",
				Amount: decimal.NewFromInt(48500), IdempotencyKey: "k-1"}))
		})

		It("echoes the caller's request id", func() {
			rec := do(http.MethodGet, "/healthz", "", "X-Request-Id", "req-42")
			Expect(rec.Header().Get("X-Request-Id")).To(Equal("req-42"))
		})

		DescribeTable("maps service errors to statuses",
			func(err error, status int, typ string) {
				fake.err = fmt.Errorf("wrapped: %w", err)
				rec := do(http.MethodGet, "/v1/payments/order-0001", "")
				Expect(rec.Code).To(Equal(status))
				Expect(problemOf(rec).Type).To(HaveSuffix(typ))
			},
			Entry("not found", aggregate.ErrNotFound, 404, "payment-not-found"),
			Entry("executing", aggregate.ErrExecuting, 409, "payment-executing"),
			Entry("mismatch", aggregate.ErrExecutionMismatch, 409, "execution-mismatch"),
			Entry("key reused", commands.ErrIdempotencyKeyReused, 422, "idempotency-key-reused"),
			Entry("psp unavailable", commands.ErrPSPUnavailable, 503, "psp-unavailable"),
			Entry("expired", aggregate.ErrExpired, 410, "checkout-expired"),
			Entry("contradicts Toss", aggregate.ErrContradictsPSP, 409, "contradicts-psp"),
			Entry("validation", &aggregate.ValidationError{Field: "items[0].productId", Message: "unknown"}, 400, "invalid-request"),
			Entry("anything else", errors.New("disk on fire"), 500, "internal"),
		)

		It("says Retry-After while another confirm runs", func() {
			fake.err = aggregate.ErrExecuting
			rec := do(http.MethodPost, "/v1/payments/confirm", `{"paymentKey":"pk_1","orderId":"order-0001","amount":1}`)
			Expect(rec.Code).To(Equal(http.StatusConflict))
			Expect(rec.Header().Get("Retry-After")).To(Equal("1"))
		})

		It("answers unknown routes and methods with problem+json", func() {
			Expect(problemOf(do(http.MethodGet, "/nope", "")).Status).To(Equal(404))
			Expect(problemOf(do(http.MethodDelete, "/v1/checkout", "")).Status).To(Equal(405))
		})

		It("answers a virtual-account confirm 200 with the account to show the buyer, never its secret", func() {
			due := time.Date(2026, 12, 2, 23, 59, 59, 0, time.UTC)
			fake.confirmed = &aggregate.State{OrderID: "order-0001", Status: aggregate.StatusWaitingForDeposit}
			fake.confirmed.VirtualAccount = &aggregate.VirtualAccount{AccountType: "일반", BankCode: "20", AccountNumber: "X6320001254801",
				HolderName: "김토스", DueDate: due, SecretHash: "hmac-sha256:ab"}
			rec := do(http.MethodPost, "/v1/payments/confirm", `{"orderId":"order-0001","paymentKey":"pk_1","amount":48500}`)
			Expect(rec.Code).To(Equal(http.StatusOK))
			var body struct {
				Status         string         `json:"status"`
				VirtualAccount map[string]any `json:"virtualAccount"`
			}
			Expect(json.Unmarshal(rec.Body.Bytes(), &body)).To(Succeed())
			Expect(body.Status).To(Equal("WAITING_FOR_DEPOSIT"))
			Expect(body.VirtualAccount).To(Equal(map[string]any{"accountType": "일반", "accountNumber": "X6320001254801", "bankCode": "20",
				"customerName": "김토스", "dueDate": "2026-12-02T23:59:59Z"}))
			Expect(rec.Body.String()).NotTo(ContainSubstring("hmac-sha256"))
		})

		It("reports readiness from its check", func() {
			h = httpapi.NewHandler(fake, httpapi.Options{Ready: func(context.Context) error { return errors.New("store down") }})
			rec := do(http.MethodGet, "/readyz", "")
			Expect(rec.Code).To(Equal(http.StatusServiceUnavailable))
			Expect(problemOf(rec).Detail).To(Equal("store down"))
		})

		It("queues a Toss webhook as a hint, with its transmission id", func() {
			hints := &fakeHints{}
			h = httpapi.NewHandler(fake, httpapi.Options{Hints: hints})
			rec := do(http.MethodPost, "/v1/webhooks/toss", `{"eventType":"PAYMENT_STATUS_CHANGED","createdAt":"2022-01-01T00:00:00.000000",
				"data":{"orderId":"order-0001","status":"DONE","totalAmount":1}}`, "tosspayments-webhook-transmission-id", "wh_1")
			Expect(rec.Code).To(Equal(http.StatusOK))
			Expect(hints.offered).To(Equal([][2]string{{"order-0001", "wh_1"}}))
			Expect(fake.calls.Load()).To(BeZero(), "the body's status is never recorded directly")

			Expect(do(http.MethodPost, "/v1/webhooks/toss", `{"createdAt":"x","secret":"s","status":"DONE","orderId":"order-0002"}`).Code).To(Equal(http.StatusOK))
			Expect(hints.offered[1][0]).To(Equal("order-0002"), "DEPOSIT_CALLBACK carries orderId at the top")
			Expect(hints.accepted[1].EventType).To(Equal("DEPOSIT_CALLBACK"))
			Expect(hints.accepted[1].Secret.Reveal()).To(Equal("s"), "the callback's secret goes to the inbox, which hashes it")
			Expect(hints.accepted[1].Status).To(Equal("DONE"))
			Expect(hints.accepted[0].Secret.Reveal()).To(BeEmpty(), "only a deposit callback's secret is checked")
			Expect(do(http.MethodPost, "/v1/webhooks/toss", `{"eventType":1}`).Code).To(Equal(http.StatusOK))
			Expect(do(http.MethodPost, "/v1/webhooks/toss", `[1]`).Code).To(Equal(http.StatusBadRequest), "not a JSON object")
			hints.full = true
			Expect(do(http.MethodPost, "/v1/webhooks/toss", `{"orderId":"order-0003"}`).Code).To(Equal(http.StatusServiceUnavailable))
		})

		DescribeTable("answers every webhook type Toss sends with 200, acting on those that name a payment",
			func(body, offered, ignored string) {
				hints := &fakeHints{}
				h = httpapi.NewHandler(fake, httpapi.Options{Hints: hints})
				Expect(do(http.MethodPost, "/v1/webhooks/toss", body).Code).To(Equal(http.StatusOK))
				if offered != "" {
					Expect(hints.offered).To(Equal([][2]string{{offered, ""}}))
				} else {
					Expect(hints.offered).To(BeEmpty())
					Expect(hints.ignored).To(Equal([]string{ignored}))
				}
				Expect(fake.calls.Load()).To(BeZero())
			},
			Entry("PAYMENT_STATUS_CHANGED", `{"eventType":"PAYMENT_STATUS_CHANGED","createdAt":"2022-01-01T00:00:00.000000","data":{"orderId":"order-0001","status":"CANCELED","cancels":[{"cancelAmount":1}]}}`, "order-0001", ""),
			Entry("DEPOSIT_CALLBACK", `{"createdAt":"2022-01-01T00:00:00.000000","secret":"s","status":"DONE","transactionKey":"t","orderId":"order-0002"}`, "order-0002", ""),
			Entry("CANCEL_STATUS_CHANGED", `{"eventType":"CANCEL_STATUS_CHANGED","createdAt":"2022-01-01T00:00:00.000000","data":{"transactionKey":"t","cancelStatus":"DONE","cancelAmount":1000}}`, "", "CANCEL_STATUS_CHANGED"),
			Entry("BILLING_DELETED", `{"eventType":"BILLING_DELETED","createdAt":"2022-01-01T00:00:00.000000","data":{"billingKey":"bk","customerKey":"ck"}}`, "", "BILLING_DELETED"),
			Entry("payout.changed", `{"eventType":"payout.changed","createdAt":"2022-01-01T00:00:00.000000","version":"2022-11-16","eventId":"e","entityType":"payout","entityBody":"c2lnbmVk"}`, "", "payout.changed"),
			Entry("seller.changed", `{"eventType":"seller.changed","createdAt":"2022-01-01T00:00:00.000000","version":"2022-11-16","eventId":"e","entityType":"seller","entityBody":"c2lnbmVk"}`, "", "seller.changed"),
			Entry("a type Toss adds later", `{"eventType":"SOMETHING_NEW","data":{"x":1}}`, "", "other"),
			Entry("a payment webhook whose orderId is not ours", `{"eventType":"PAYMENT_STATUS_CHANGED","data":{"orderId":"no\u0000"}}`, "", "PAYMENT_STATUS_CHANGED"),
			Entry("data that is not an object", `{"eventType":"PAYMENT_STATUS_CHANGED","data":"x"}`, "", "PAYMENT_STATUS_CHANGED"),
		)

		It("takes an operator's resolution with reason, recorded as the authenticated key whatever the body says", func() {
			rec := do(http.MethodPost, "/admin/v1/payments/order-0001/resolve", `{"resolution":"FAILURE","actor":"someone-else","reason":"checked"}`)
			Expect(rec.Code).To(Equal(http.StatusOK))
			Expect(fake.got).To(Equal(commands.Resolution{OrderID: "order-0001", Resolution: aggregate.StatusFailure, Actor: "ops:kim", Reason: "checked"}))
			Expect(fake.meta.Actor).To(Equal("ops:kim"))
			Expect(fake.meta.CorrelationID).To(Equal(rec.Header().Get("X-Request-Id")))
			for body, field := range map[string]string{
				`{"resolution":"MAYBE","actor":"a","reason":"r"}`:   "resolution",
				`{"resolution":"SUCCESS","actor":"a","reason":" "}`: "reason",
			} {
				Expect(problemOf(do(http.MethodPost, "/admin/v1/payments/order-0001/resolve", body)).Errors[0].Field).To(Equal(field))
			}
		})

		It("reports operator alerts on readiness and in metrics", func() {
			alertAt := time.Now().Add(-time.Minute)
			h = httpapi.NewHandler(fake, httpapi.Options{Signals: func() commands.Signals {
				return commands.Signals{Outcomes: map[aggregate.Status]int64{aggregate.StatusSuccess: 7, aggregate.StatusNotStarted: 2},
					Escalations: 1, OperatorAlerts: 3, LastAlertAt: alertAt, LastAlert: "toss.v1/config-fault UNAUTHORIZED_KEY"}
			}})
			rec := do(http.MethodGet, "/readyz", "")
			Expect(rec.Code).To(Equal(http.StatusOK))
			Expect(rec.Body.String()).To(MatchJSON(`{"status":"degraded","alerts":{"lastOperatorAlert":"toss.v1/config-fault UNAUTHORIZED_KEY",
				"at":"` + alertAt.UTC().Format(time.RFC3339) + `","escalatedSinceStart":"1"}}`))
			metrics := do(http.MethodGet, "/metrics", "").Body.String()
			Expect(metrics).To(ContainSubstring(`paystream_psp_outcomes_total{status="SUCCESS"} 7`))
			Expect(metrics).To(ContainSubstring(`paystream_psp_outcomes_total{status="NOT_STARTED"} 2`))
			Expect(metrics).To(ContainSubstring("paystream_escalations_total 1"))
			Expect(metrics).To(ContainSubstring("paystream_operator_alerts_total 3"))
		})

		It("serves its OpenAPI document", func() {
			rec := do(http.MethodGet, "/openapi.yaml", "")
			Expect(rec.Code).To(Equal(200))
			body, _ := io.ReadAll(rec.Body)
			Expect(string(body)).To(HavePrefix("openapi: 3.1.0"))
		})
	})
})
