package tosssim_test

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/toss/tosssim"
)

// BenchmarkConfirm measures a session plus a keyed confirm, in parallel, through the
// handler (no network): the simulator's share of a load test's hot path, in memory and
// with a data directory. retained-B/op is the live heap each payment adds: the heap in
// use after a collection, once b.N payments were made beforehand and again after b.N
// more, divided by b.N (so the fixed cost of caches and memtables cancels out); cpu-ns/op
// the process's CPU time per payment, which, unlike ns/op, neither other processes on the
// machine nor Pebble's background work hide. Run it with -benchtime 50000x for figures
// comparable with the README's.
func BenchmarkConfirm(b *testing.B) {
	b.Run("memory", func(b *testing.B) { benchmarkConfirm(b, tosssim.New(tosssim.Options{})) })
	b.Run("dir", func(b *testing.B) {
		sim, err := tosssim.Open(b.TempDir(), tosssim.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer sim.Close()
		benchmarkConfirm(b, sim)
	})
}

func benchmarkConfirm(b *testing.B, sim *tosssim.Simulator) {
	auth := basic("test_sk_bench")
	var orders atomic.Int64
	pay := func() bool {
		orderID := "bench-" + strconv.FormatInt(orders.Add(1), 10)
		paymentKey, err := sim.CreateSession(orderID, decimal.NewFromInt(15000))
		if err != nil {
			b.Error(err)
			return false
		}
		body := `{"paymentKey":"` + paymentKey + `","orderId":"` + orderID + `","amount":15000}`
		req := httptest.NewRequest(http.MethodPost, "/v1/payments/confirm", strings.NewReader(body))
		req.Header.Set("Authorization", auth)
		req.Header.Set("Idempotency-Key", "confirm-"+orderID)
		rec := httptest.NewRecorder()
		sim.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Errorf("confirm %s: HTTP %d %s", orderID, rec.Code, rec.Body)
			return false
		}
		return true
	}
	for range b.N {
		if !pay() {
			return
		}
	}
	before, cpu := heapInUse(), cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !pay() {
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(heapInUse()-before)/float64(b.N), "retained-B/op")
	runtime.KeepAlive(sim) // what it holds is what is measured
}

// cpuTime is the CPU time the process used so far, in nanoseconds, on every core and in
// the kernel: with a database that includes Pebble's flushes and compactions, which run
// on goroutines of their own.
func cpuTime() int64 {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		panic(err)
	}
	return u.Utime.Nano() + u.Stime.Nano()
}

func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}
