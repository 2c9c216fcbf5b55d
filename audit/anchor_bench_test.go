package audit_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/paystream/paystream/audit"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/embedded"
)

// BenchmarkAnchorer follows b.N payment streams of six chained events each and records an
// anchor over them; ns/op is per payment. The heap the Anchorer keeps is what a GC frees
// when it is dropped: heap-B/payment (HeapInuse) per payment, anchorer-MB (HeapAlloc) in
// all.
//
//	go test ./audit -run '^$' -bench Anchorer -benchtime 40000x
func BenchmarkAnchorer(b *testing.B) {
	ctx := context.Background()
	store := embedded.OpenMemory()
	defer store.Close()
	var last eventstore.Position
	for i := range b.N {
		res, err := appendChained(ctx, store, fmt.Sprintf("order_%020d", i), eventstore.NoStream, 6)
		if err != nil {
			b.Fatal(err)
		}
		last = res.Position
	}
	b.ResetTimer()
	an := audit.NewAnchorer(upTo{Store: store, last: last}, key, nil)
	if err := an.Follow(ctx); !errors.Is(err, errCaughtUp) {
		b.Fatal(err)
	}
	if _, ok, err := an.Record(ctx); err != nil || !ok {
		b.Fatal(ok, err)
	}
	b.StopTimer()
	var with, without runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&with)
	runtime.KeepAlive(an)
	an = nil
	runtime.GC()
	runtime.ReadMemStats(&without)
	b.ReportMetric(float64(int64(with.HeapInuse)-int64(without.HeapInuse))/float64(b.N), "heap-B/payment")
	b.ReportMetric(float64(int64(with.HeapAlloc)-int64(without.HeapAlloc))/1e6, "anchorer-MB")
}
