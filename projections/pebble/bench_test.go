package pebble_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/projections"
	"github.com/paystream/paystream/projections/memory"
	"github.com/paystream/paystream/projections/pebble"
	"github.com/paystream/paystream/projections/readmodeltest"
)

// BenchmarkCommit measures Commit from an empty read model, for the Pebble and the memory
// adapter side by side: the whole lives of 20,000 payments (checkout, execution, approval,
// ledger, wallet, completion) with 64 in flight as under paymentload -c 64, committed in
// batches of a given size as the projector does (small: keeping up with a steady load; 2000:
// its largest, catching up). It reports events/s, the process's CPU time per event (with
// Pebble's background flushes and compactions, and the GC), bytes allocated per event, the
// live heap the store keeps per payment and, for Pebble, bytes on disk per payment. Run it once:
//
//	go test -run '^$' -bench Commit -benchtime 1x ./projections/pebble/
func BenchmarkCommit(b *testing.B) {
	const payments = 20_000
	events := readmodeltest.NewLog().Interleaved(payments, 64, 1)
	for _, size := range []int{100, 2000} {
		b.Run(fmt.Sprintf("memory/batch=%d", size), func(b *testing.B) {
			benchCommit(b, events, size, func(string) projections.Store { return memory.New() })
		})
		b.Run(fmt.Sprintf("pebble/batch=%d", size), func(b *testing.B) {
			var dir string
			benchCommit(b, events, size, func(d string) projections.Store {
				s, err := pebble.Open(d)
				if err != nil {
					b.Fatal(err)
				}
				dir = d
				return s
			})
			b.ReportMetric(float64(dirSize(b, dir))/payments, "disk-B/payment")
		})
	}
}

func benchCommit(b *testing.B, events []eventstore.RecordedEvent, size int, open func(dir string) projections.Store) {
	ctx := context.Background()
	var (
		elapsed, cpu time.Duration
		alloc        uint64
		heap         int64
		ms           runtime.MemStats
	)
	for range b.N {
		b.StopTimer()
		store := open(b.TempDir())
		runtime.GC()
		runtime.ReadMemStats(&ms)
		before, heapBefore := ms.TotalAlloc, int64(ms.HeapAlloc)
		b.StartTimer()
		start, cpuStart := time.Now(), cpuTime(b)
		cp := eventstore.Position(0)
		for i := 0; i < len(events); i += size {
			batch, err := store.Commit(ctx, cp, events[i:min(i+size, len(events))])
			if err != nil || batch.Poison != nil {
				b.Fatal(err, batch.Poison)
			}
			cp = batch.Checkpoint
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		heap = int64(ms.HeapAlloc) - heapBefore // what the store keeps live
		b.StartTimer()
		if c, ok := store.(interface{ Close() error }); ok { // flushes what Pebble still holds: part of the cost
			if err := c.Close(); err != nil {
				b.Fatal(err)
			}
		}
		elapsed, cpu = elapsed+time.Since(start), cpu+cpuTime(b)-cpuStart
		b.StopTimer()
		runtime.ReadMemStats(&ms)
		alloc += ms.TotalAlloc - before
	}
	n := float64(b.N * len(events))
	b.ReportMetric(n/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Microseconds())/n, "cpu-µs/event")
	b.ReportMetric(float64(alloc)/n, "alloc-B/event")
	b.ReportMetric(float64(heap)/float64(len(events)/readmodeltest.LifeSteps), "heap-B/payment")
}

// cpuTime is the CPU time the process has used, user and system, on every thread: Pebble's
// flushes and compactions run beside the commits, and a shared machine makes wall time noisy.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func dirSize(b *testing.B, dir string) int64 {
	var total int64
	err := filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			total += info.Size()
		}
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return total
}

// BenchmarkRowCodec compares the row encoding with encoding/json on a completed card
// payment with two orders: what Commit pays per row it loads and writes.
func BenchmarkRowCodec(b *testing.B) {
	log := readmodeltest.NewLog()
	var events []eventstore.RecordedEvent
	for step := range readmodeltest.LifeSteps {
		events = append(events, log.Life("order-000001", step))
	}
	row, _, err := projections.Project(events)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("binary", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for range b.N {
			buf = pebble.EncodePayment(buf[:0], row)
			if _, err := pebble.DecodePayment(buf); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(buf)), "bytes/row")
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for range b.N {
			buf, _ = json.Marshal(row)
			var p projections.Payment
			if err := json.Unmarshal(buf, &p); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(buf)), "bytes/row")
	})
}
