package commands_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/paystream/paystream"
	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/catalog"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/eventstore/embedded"
)

// approvingPSP approves every confirm with evidence shaped like Toss's, in-process, so the
// benchmark measures paystream and not HTTP.
type approvingPSP struct{}

func (approvingPSP) Confirm(_ context.Context, e commands.Execution) commands.PSPAnswer {
	at := time.Now()
	raw, _ := json.Marshal(map[string]any{"version": "2022-11-16", "paymentKey": e.PaymentKey, "orderId": e.OrderID,
		"status": "DONE", "method": "카드", "totalAmount": e.Amount, "balanceAmount": e.Amount, "currency": "KRW",
		"approvedAt": at.Format(time.RFC3339), "requestedAt": at.Format(time.RFC3339), "type": "NORMAL", "mId": "tvivarepublica"})
	return commands.PSPAnswer{Verdict: aggregate.Verdict{Status: aggregate.StatusSuccess, Rule: "bench/approved",
		PaymentKey: e.PaymentKey, TotalAmount: e.Amount, Method: "카드", ApprovedAt: at, Evidence: raw}}
}

func (approvingPSP) Lookup(context.Context, commands.Execution) commands.PSPRecord {
	return commands.PSPRecord{Status: "NOT_FOUND_PAYMENT", NotFound: true}
}

func (approvingPSP) Cancel(context.Context, commands.RefundExecution) commands.PSPAnswer {
	return commands.PSPAnswer{Verdict: aggregate.Verdict{Status: aggregate.StatusFailure, Rule: "bench/no-refunds"}}
}

// BenchmarkCheckoutConfirm runs checkout + confirm against the in-memory store and reports
// the heap each payment keeps next to the event bytes it wrote: memory per payment should
// be bounded by its event data.
//
//	go test ./commands -run '^$' -bench CheckoutConfirm -benchtime 20000x
func BenchmarkCheckoutConfirm(b *testing.B) {
	store := embedded.OpenMemory()
	defer store.Close()
	products, err := catalog.Parse(paystream.SampleCatalog)
	if err != nil {
		b.Fatal(err)
	}
	svc := commands.New(commands.Config{Store: store, PSP: approvingPSP{}, Catalog: products})
	ctx := context.Background()
	meta := commands.Meta{CorrelationID: "req_0123456789abcdef01234567", Actor: "checkout-api"}
	items := []commands.Item{{ProductID: "book-kia", Quantity: 1}, {ProductID: "mug-gopher", Quantity: 2}}

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	orders := make([]string, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		p, err := svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "buyer-1", Items: items}, meta)
		if err != nil {
			b.Fatal(err)
		}
		got, err := svc.Confirm(ctx, commands.ConfirmRequest{OrderID: p.OrderID, PaymentKey: "tgen_" + p.OrderID, Amount: p.TotalAmount}, meta)
		if err != nil || got.Status != "SUCCESS" {
			b.Fatalf("confirm: %v %v", got.Status, err)
		}
		orders = append(orders, p.OrderID)
	}
	b.StopTimer()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)

	var eventBytes int
	for _, id := range orders {
		events, err := store.ReadStream(ctx, aggregate.StreamName(id))
		if err != nil {
			b.Fatal(err)
		}
		for _, e := range events {
			eventBytes += len(e.Data) + len(e.Metadata) + len(e.Type) + len(e.Stream)
		}
	}
	n := float64(len(orders))
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "heap-B/payment")
	b.ReportMetric(float64(eventBytes)/n, "event-B/payment")
	b.ReportMetric(n/b.Elapsed().Seconds(), "payments/s")
}
