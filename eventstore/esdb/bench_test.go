package esdb_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/esdb"
	"github.com/paystream/paystream/eventstore/esdbtest"
)

var (
	benchData     = []byte(`{"orderId":"order-0001","amount":"61000","paymentKey":"tgen_20240101000000abcd","method":"CARD"}`)
	benchMetadata = []byte(`{"correlation_id":"0b8c1c3e-5d1e-4a55-9b7e-0e6f6c4d2a10","actor":"buyer-1","schema_version":1}`)
)

// BenchmarkAdapter measures the adapter over the in-process emulator: a sanity figure for
// the adapter and client overhead (gRPC over loopback), not a claim about EventStoreDB.
//
//	go test -run '^$' -bench BenchmarkAdapter -benchtime 5s ./eventstore/esdb/
func BenchmarkAdapter(b *testing.B) {
	srv, err := esdbtest.Start(esdbtest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Stop()
	store, err := esdb.Open(context.Background(), srv.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()

	b.Run("append", func(b *testing.B) {
		// Each goroutine appends one event at a time to its own payment streams, 3
		// events a stream, like confirm flows.
		var streams atomic.Int64
		run := uuid.NewString()[:8] // b.Run calls this function once per b.N tried
		b.SetParallelism(8)
		b.ResetTimer()
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			var stream string
			rev := eventstore.Revision(3)
			for pb.Next() {
				if rev == 3 {
					stream, rev = fmt.Sprintf("payment-bench-%s-%d", run, streams.Add(1)), eventstore.NoStream
				}
				e := eventstore.Event{ID: uuid.New(), Type: "payment.execution-started.v1", Data: benchData, Metadata: benchMetadata}
				if _, err := store.Append(context.Background(), stream, rev, []eventstore.Event{e}); err != nil {
					b.Error(err)
					return
				}
				rev++
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
	})

	b.Run("follow", func(b *testing.B) {
		prefix := "payment-follow-" + uuid.NewString()[:8] + "-"
		ctx := context.Background()
		for i := 0; i < b.N; i += 100 {
			n := min(100, b.N-i)
			events := make([]eventstore.Event, n)
			for j := range events {
				events[j] = eventstore.Event{ID: uuid.New(), Type: "payment.psp-approved.v1", Data: benchData, Metadata: benchMetadata}
			}
			if _, err := store.Append(ctx, fmt.Sprintf("%s%d", prefix, i), eventstore.NoStream, events); err != nil {
				b.Fatal(err)
			}
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var seen int
		errDone := fmt.Errorf("done")
		b.ResetTimer()
		start := time.Now()
		err := store.Follow(ctx, 0, prefix, func(context.Context, eventstore.RecordedEvent) error {
			if seen++; seen == b.N {
				return errDone
			}
			return nil
		})
		elapsed := time.Since(start)
		if seen != b.N {
			b.Fatalf("followed %d of %d events: %v", seen, b.N, err)
		}
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	})
}
