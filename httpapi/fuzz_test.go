package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-json-experiment/json/v1"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/httpapi"
)

// FuzzRequestBodies sends arbitrary bodies to every route a client writes to. Whatever
// arrives: never a 5xx, every refusal is problem+json, and whatever reaches the service has
// passed the rules (text storable, amounts plain positive won).
func FuzzRequestBodies(f *testing.F) {
	routes := []string{"/v1/checkout", "/v1/payments/confirm", "/admin/v1/payments/order-0001/resolve", "/v1/webhooks/toss"}
	for _, seed := range []string{
		`{"buyerId":"buyer-1","items":[{"productId":"book-kia","quantity":1}]}`,
		`{"paymentKey":"pk_1","orderId":"order-0001","amount":48500}`,
		`{"paymentKey":"pk_1","orderId":"order-0001","amount":1,"amount":61000}`,
		`{"paymentKey":"pk_1","orderId":"order-0001","amount":6.1e4}`,
		`{"paymentKey":"pk_1","orderId":"order-0001","amount":"61000.00"}`,
		`{"paymentKey":"pk_1","orderId":"order-0001","amount":1e400}`,
		`{"buyerId":"b\u0000","items":[{"productId":"p","quantity":9223372036854775807}]}`,
		"{\"buyerId\":\"\xff\",\"items\":[]}",
		`{"resolution":"FAILURE","actor":"ops:kim","reason":"checked at Toss"}`,
		`{"eventType":"PAYMENT_STATUS_CHANGED","data":{"orderId":"order-0001","status":"DONE"}}`,
		`{"eventType":"CANCEL_STATUS_CHANGED","data":{"transactionKey":"t"}}`,
		`{"createdAt":"x","secret":"s","status":"DONE","orderId":"order-0002"}`,
		`[]`, `null`, ``, `{`, `{"a":{"b":{"c":[[[[[]]]]]}}}`,
	} {
		for i := range routes {
			f.Add(uint8(i), seed)
		}
	}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		fake := &fakePayments{}
		h := protected(httpapi.NewHandler(fake, httpapi.Options{Hints: &fakeHints{}}))
		req := httptest.NewRequest(http.MethodPost, routes[int(route)%len(routes)], strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tokenFor(req.URL.Path).Reveal())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %q: %d %s", req.URL.Path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("%s %q: %d with %s", req.URL.Path, body, rec.Code, ct)
			}
			var p map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p["status"] != float64(rec.Code) {
				t.Fatalf("%s %q: problem body %s", req.URL.Path, body, rec.Body)
			}
		}
		switch got := fake.got.(type) {
		case commands.CheckoutRequest:
			mustStore(t, got.BuyerID)
			for _, it := range got.Items {
				mustStore(t, it.ProductID)
			}
		case commands.ConfirmRequest:
			if !got.Amount.IsPositive() || !got.Amount.IsInteger() || len(got.Amount.String()) > 15 {
				t.Fatalf("amount %s reached the service from %q", got.Amount, body)
			}
			mustStore(t, got.PaymentKey)
			if !aggregate.ValidOrderID(got.OrderID) {
				t.Fatalf("orderId %q reached the service", got.OrderID)
			}
		case commands.Resolution:
			mustStore(t, got.Actor)
			mustStore(t, got.Reason)
		}
	})
}

func mustStore(t *testing.T, s string) {
	t.Helper()
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) || aggregate.CheckText("field", s, 1000) != nil {
		t.Fatalf("%q reached the service", s)
	}
}
