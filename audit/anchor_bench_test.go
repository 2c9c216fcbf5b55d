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
	"github.com/paystream/paystream/eventstore/storetest"
	"github.com/paystream/paystream/localkv"
)

// BenchmarkAnchorer follows b.N payment streams of six chained events each and records an
// anchor over them, then one more over a tenth of them, changed; ns/op is per payment. The
// heap the Anchorer keeps is what a GC frees when it is closed and dropped:
// heap-B/payment (HeapInuse) per payment, anchorer-MB (HeapAlloc) in all.
//
//	go test ./audit -run '^$' -bench Anchorer -benchtime 40000x
func BenchmarkAnchorer(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		benchmarkAnchorer(b, func(*testing.B) []audit.AnchorerOption { return nil })
	})
	b.Run("pebble", func(b *testing.B) {
		benchmarkAnchorer(b, func(b *testing.B) []audit.AnchorerOption {
			db, err := localkv.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return []audit.AnchorerOption{audit.WithHeadsIn(db)}
		})
	})
}

func benchmarkAnchorer(b *testing.B, heads func(*testing.B) []audit.AnchorerOption) {
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
	opts := heads(b)
	b.ResetTimer()
	an := audit.NewAnchorer(written{Store: store, last: &last}, key, nil, opts...)
	record := func() {
		if err := an.Follow(ctx); !errors.Is(err, storetest.ErrCaughtUp) {
			b.Fatal(err)
		}
		if _, ok, err := an.Record(ctx); err != nil || !ok {
			b.Fatal(ok, err)
		}
	}
	record()
	b.StopTimer()
	for i := 0; i < b.N; i += 10 {
		res, err := appendChained(ctx, store, fmt.Sprintf("order_%020d", i), 5, 1)
		if err != nil {
			b.Fatal(err)
		}
		last = res.Position
	}
	b.StartTimer()
	record()
	b.StopTimer()
	var with, without runtime.MemStats
	heap(&with)
	if err := an.Close(); err != nil {
		b.Fatal(err)
	}
	an = nil
	heap(&without)
	b.ReportMetric(float64(int64(with.HeapInuse)-int64(without.HeapInuse))/float64(b.N), "heap-B/payment")
	b.ReportMetric(float64(int64(with.HeapAlloc)-int64(without.HeapAlloc))/1e6, "anchorer-MB")
}

// heap reads the memory statistics after two collections: the second frees what sync.Pools
// kept through the first.
func heap(m *runtime.MemStats) {
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(m)
}
