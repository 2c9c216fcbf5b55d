package toss_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/toss"
)

var _ = Describe("Decoding Toss's answers", func() {
	// answering returns a client whose server always answers status and body.
	answering := func(status int, contentType, body string) *toss.Client {
		server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", contentType)
			w.WriteHeader(status)
			w.Write([]byte(body))
		}))
		DeferCleanup(server.Close)
		return toss.NewClient(server.URL, testKey)
	}
	lookup := func(ctx SpecContext, status int, body string) (toss.Payment, error) {
		return answering(status, "application/json", body).PaymentByKey(ctx, "pk_1")
	}
	expectMalformed := func(err error) {
		GinkgoHelper()
		Expect(errors.Is(err, toss.ErrMalformedResponse)).To(BeTrue(), "want ErrMalformedResponse, got %v", err)
		var apiErr *toss.APIError
		Expect(errors.As(err, &apiErr)).To(BeFalse())
	}

	Context("a 2xx Payment", func() {
		It("tolerates unknown fields and keeps unknown enum values verbatim", func(ctx SpecContext) {
			body := `{"paymentKey":"pk_1","orderId":"order-1","status":"SETTLING_ON_MARS","method":"우주결제",
				"totalAmount":1000,"balanceAmount":1000,"requestedAt":"2026-01-02T12:04:05+09:00","approvedAt":null,
				"brandNewField":{"nested":[1,2,3]},"card":{"issuerCode":"61"},"failure":null,"cancels":null}`
			p, err := lookup(ctx, http.StatusOK, body)
			Expect(err).NotTo(HaveOccurred())
			Expect(p.Status).To(Equal(toss.Status("SETTLING_ON_MARS")))
			Expect(p.Method).To(Equal(toss.Method("우주결제")))
			Expect(p.ApprovedAt).To(BeNil())
			Expect(string(p.Raw)).To(Equal(body))
		})

		It("parses amounts exactly, beyond float64 precision", func(ctx SpecContext) {
			p, err := lookup(ctx, http.StatusOK, `{"paymentKey":"pk_1","orderId":"order-1","status":"DONE","totalAmount":9007199254740993,"balanceAmount":9007199254740993}`)
			Expect(err).NotTo(HaveOccurred())
			Expect(p.TotalAmount.String()).To(Equal("9007199254740993"))
		})

		It("decodes the failure and the cancels", func(ctx SpecContext) {
			p, err := lookup(ctx, http.StatusOK, `{"paymentKey":"pk_1","orderId":"order-1","status":"PARTIAL_CANCELED","totalAmount":1000,"balanceAmount":600,
				"failure":{"code":"COMMON_ERROR","message":"temporary"},
				"cancels":[{"cancelAmount":400,"cancelReason":"r","canceledAt":"2026-01-02T12:04:05+09:00","transactionKey":"tx1","cancelStatus":"DONE"}]}`)
			Expect(err).NotTo(HaveOccurred())
			Expect(p.Failure).To(Equal(&toss.Failure{Code: "COMMON_ERROR", Message: "temporary"}))
			Expect(p.Cancels).To(HaveLen(1))
			Expect(p.Cancels[0].CancelAmount.Equal(decimal.NewFromInt(400))).To(BeTrue())
			Expect(p.Cancels[0].TransactionKey).To(Equal("tx1"))
		})

		DescribeTable("normalises every Korean method name to its English code",
			func(ctx SpecContext, korean string, want toss.Method) {
				p, err := lookup(ctx, http.StatusOK, `{"paymentKey":"pk_1","orderId":"order-1","status":"DONE","totalAmount":1000,"method":"`+korean+`"}`)
				Expect(err).NotTo(HaveOccurred())
				Expect(p.Method).To(Equal(want))
				Expect(want.Korean()).To(Equal(korean))
			},
			Entry(nil, "카드", toss.MethodCard),
			Entry(nil, "가상계좌", toss.MethodVirtualAccount),
			Entry(nil, "간편결제", toss.MethodEasyPay),
			Entry(nil, "휴대폰", toss.MethodMobilePhone),
			Entry(nil, "계좌이체", toss.MethodTransfer),
			Entry(nil, "문화상품권", toss.MethodCultureGiftCertificate),
			Entry(nil, "도서문화상품권", toss.MethodBookGiftCertificate),
			Entry(nil, "게임문화상품권", toss.MethodGameGiftCertificate),
		)

		DescribeTable("is malformed where money is decided",
			func(ctx SpecContext, body string) {
				_, err := lookup(ctx, http.StatusOK, body)
				expectMalformed(err)
			},
			Entry("a fractional totalAmount", `{"paymentKey":"pk_1","orderId":"o-1","status":"DONE","totalAmount":1000.5}`),
			Entry("a totalAmount sent as a string", `{"paymentKey":"pk_1","orderId":"o-1","status":"DONE","totalAmount":"1000"}`),
			Entry("no totalAmount", `{"paymentKey":"pk_1","orderId":"o-1","status":"DONE"}`),
			Entry("a negative balanceAmount", `{"paymentKey":"pk_1","orderId":"o-1","status":"DONE","totalAmount":1000,"balanceAmount":-1}`),
			Entry("a DONE payment without paymentKey", `{"orderId":"o-1","status":"DONE","totalAmount":1000}`),
			Entry("a DONE payment without orderId", `{"paymentKey":"pk_1","status":"DONE","totalAmount":1000}`),
			Entry("an unparsable approvedAt", `{"paymentKey":"pk_1","orderId":"o-1","status":"DONE","totalAmount":1000,"approvedAt":"yesterday"}`),
			Entry("a body that is not JSON", `<html>OK</html>`),
			Entry("an empty body", ``),
		)

		It("is malformed when larger than 1 MiB", func(ctx SpecContext) {
			body := `{"paymentKey":"pk_1","orderId":"o-1","status":"DONE","totalAmount":1000,"pad":"` + strings.Repeat("x", 1<<20) + `"}`
			_, err := lookup(ctx, http.StatusOK, body)
			expectMalformed(err)
		})

		It("decodes inside other JSON, such as a webhook's data", func() {
			var webhook struct {
				EventType string       `json:"eventType"`
				Data      toss.Payment `json:"data"`
			}
			Expect(json.Unmarshal([]byte(`{"eventType":"PAYMENT_STATUS_CHANGED","data":{"paymentKey":"pk_1","orderId":"o-1","status":"DONE","totalAmount":1000}}`), &webhook)).To(Succeed())
			Expect(webhook.Data.Status).To(Equal(toss.StatusDone))
			Expect(string(webhook.Data.Raw)).To(HavePrefix(`{"paymentKey"`))

			err := json.Unmarshal([]byte(`{"data":{"status":"DONE","totalAmount":1}}`), &webhook)
			Expect(errors.Is(err, toss.ErrMalformedResponse)).To(BeTrue())
		})
	})

	Context("a non-2xx answer", func() {
		It("is an *APIError with Toss's code and message", func(ctx SpecContext) {
			body := `{"code":"NOT_FOUND_PAYMENT","message":"존재하지 않는 결제 입니다."}`
			_, err := lookup(ctx, http.StatusNotFound, body)
			var apiErr *toss.APIError
			Expect(errors.As(err, &apiErr)).To(BeTrue())
			Expect(*apiErr).To(Equal(toss.APIError{HTTPStatus: 404, Code: "NOT_FOUND_PAYMENT", Message: "존재하지 않는 결제 입니다.", Body: []byte(body)}))
		})

		It("is an *APIError with an empty Code when the body is a proxy's HTML page", func(ctx SpecContext) {
			html := "<html><body><h1>502 Bad Gateway</h1></body></html>"
			_, err := answering(http.StatusBadGateway, "text/html", html).Confirm(ctx, toss.ConfirmRequest{PaymentKey: "pk_1", OrderID: "order-1", Amount: decimal.NewFromInt(1000)}, "k")
			var apiErr *toss.APIError
			Expect(errors.As(err, &apiErr)).To(BeTrue())
			Expect(apiErr.HTTPStatus).To(Equal(http.StatusBadGateway))
			Expect(apiErr.Code).To(BeEmpty())
			Expect(string(apiErr.Body)).To(Equal(html))
		})
	})
})
