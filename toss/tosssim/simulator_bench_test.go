package tosssim_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/toss/tosssim"
)

// BenchmarkConfirm measures a session plus a keyed confirm, in parallel, through the
// handler (no network): the simulator's share of a load test's hot path.
func BenchmarkConfirm(b *testing.B) {
	sim := tosssim.New(tosssim.Options{})
	auth := basic("test_sk_bench")
	var orders atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			orderID := "bench-" + strconv.FormatInt(orders.Add(1), 10)
			paymentKey, err := sim.CreateSession(orderID, decimal.NewFromInt(15000))
			if err != nil {
				b.Error(err)
				return
			}
			body := `{"paymentKey":"` + paymentKey + `","orderId":"` + orderID + `","amount":15000}`
			req := httptest.NewRequest(http.MethodPost, "/v1/payments/confirm", strings.NewReader(body))
			req.Header.Set("Authorization", auth)
			req.Header.Set("Idempotency-Key", "confirm-"+orderID)
			rec := httptest.NewRecorder()
			sim.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Errorf("confirm %s: HTTP %d %s", orderID, rec.Code, rec.Body)
				return
			}
		}
	})
}
