package books_test

import (
	"context"
	"errors"
	"runtime"
	"testing"

	"github.com/paystream/paystream/books"
	"github.com/paystream/paystream/eventstore/embedded"
)

// BenchmarkTally follows b.N payments' streams (a card approval, its completion 100
// payments later, and for every fifth a refund 5,000 payments later) into a Tally and
// reports the heap the Tally keeps per payment, measured after the store is written and
// after the Tally has caught up (both after a GC); ns/op is per payment, Totals included
// once.
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
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	t := books.NewTally()
	if err := t.Run(ctx, upTo{Store: store, last: p.last}); !errors.Is(err, errCaughtUp) {
		b.Fatal(err)
	}
	if _, err := t.Totals(ctx); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/float64(b.N), "heap-B/payment")
	runtime.KeepAlive(t)
}
