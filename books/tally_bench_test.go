package books_test

import (
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/paystream/paystream/books"
	"github.com/paystream/paystream/eventstore/embedded"
	"github.com/paystream/paystream/eventstore/storetest"
)

// BenchmarkTally follows b.N payments' streams (a card approval, its completion 100
// payments later, and for every fifth a refund 5,000 payments later) into a Tally; ns/op is
// per payment, one Totals included. The heap the Tally keeps is what a GC frees when it is
// dropped: heap-B/payment (HeapInuse) per payment, tally-MB (HeapAlloc) in all.
//
//	go test ./books -run '^$' -bench Tally -benchtime 40000x
func BenchmarkTally(b *testing.B) {
	ctx := context.Background()
	store := embedded.OpenMemory()
	defer store.Close()
	p := newPayments(store, 100, 5000, 5)
	if err := p.write(ctx, b.N); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	t := books.NewTally()
	if err := t.Run(ctx, storetest.UpTo{Store: store, Last: p.last}); !errors.Is(err, storetest.ErrCaughtUp) {
		b.Fatal(err)
	}
	if _, err := t.Totals(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	var with, without runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&with)
	runtime.KeepAlive(t)
	t = nil
	runtime.GC()
	runtime.ReadMemStats(&without)
	b.ReportMetric(float64(int64(with.HeapInuse)-int64(without.HeapInuse))/float64(b.N), "heap-B/payment")
	b.ReportMetric(float64(int64(with.HeapAlloc)-int64(without.HeapAlloc))/1e6, "tally-MB")
}
