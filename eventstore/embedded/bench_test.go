package embedded_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/embedded"
)

// BenchmarkAppend measures single-event appends to payment-like streams (ten events each,
// ~400 bytes of data and metadata) by one appender and by 64 concurrent ones. In a data
// directory every append is fsync'd; concurrency is what lets group commit share fsyncs.
//
//	go test -run '^$' -bench BenchmarkAppend -benchtime 3s ./eventstore/embedded/
func BenchmarkAppend(b *testing.B) {
	modes := []struct {
		name string
		open func(b *testing.B) *embedded.Store
	}{
		{"memory", func(*testing.B) *embedded.Store { return embedded.OpenMemory() }},
		{"dir", func(b *testing.B) *embedded.Store {
			s, err := embedded.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
	for _, mode := range modes {
		for _, appenders := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/appenders=%d", mode.name, appenders), func(b *testing.B) {
				s := mode.open(b)
				defer s.Close()
				var streams atomic.Int64
				b.ReportAllocs()
				cpu0 := processCPU(b)
				if appenders == 1 {
					w := paymentWriter{store: s, streams: &streams}
					for b.Loop() {
						if err := w.append(); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					// RunParallel starts parallelism × GOMAXPROCS goroutines.
					procs := runtime.GOMAXPROCS(0)
					b.SetParallelism((appenders + procs - 1) / procs)
					b.RunParallel(func(pb *testing.PB) {
						w := paymentWriter{store: s, streams: &streams}
						for pb.Next() {
							if err := w.append(); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
				// The process's CPU, the kernel's share of each fsync included.
				b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/append")
			})
		}
	}
}

// processCPU is the user and system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		b.Fatal(err)
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

var (
	benchData     = []byte(`{"order_id":"ORD-20260101-000001","payment_key":"tgen_20260101abcdEFGH","orders":[{"seller_id":"S-1","product_id":"P-1","amount":"15000"},{"seller_id":"S-2","product_id":"P-2","amount":"32000"}],"total":"47000","currency":"KRW"}`)
	benchMetadata = []byte(`{"correlation_id":"0f8c2b8e-8d1a-4c59-9d3e-1c2f1a7e9b10","causation_id":"0f8c2b8e-8d1a-4c59-9d3e-1c2f1a7e9b11","actor":"checkout-api","schema":1}`)
)

// paymentWriter appends ten events to a stream, one at a time, then moves to a new one.
type paymentWriter struct {
	store   *embedded.Store
	streams *atomic.Int64
	stream  string
	next    eventstore.Revision
}

func (w *paymentWriter) append() error {
	if w.stream == "" || w.next == 10 {
		w.stream, w.next = fmt.Sprintf("payment-%d", w.streams.Add(1)), 0
	}
	e := eventstore.Event{ID: uuid.New(), Type: "payment.execution-started.v1", Data: benchData, Metadata: benchMetadata}
	_, err := w.store.Append(context.Background(), w.stream, w.next-1, []eventstore.Event{e})
	w.next++
	return err
}
