package completion_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/booking"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/completion"
	"github.com/paystream/paystream/eventstore/embedded"
	"github.com/paystream/paystream/kafka"
	"github.com/paystream/paystream/kafkamsg"
	"github.com/paystream/paystream/kafkamsg/kafkatest"
	"github.com/paystream/paystream/ledger"
	"github.com/paystream/paystream/projections/forwarder"
	"github.com/paystream/paystream/wallet"
)

// BenchmarkLoop measures PspApproved → PaymentCompleted (store timestamps) through the
// whole downstream loop on kfake, with approvals arriving at 1,750/s (half of what paymentd
// confirms at most on the dev VM). Run:
//
//	go test ./completion -run '^$' -bench Loop -benchtime 5000x
func BenchmarkLoop(b *testing.B) {
	const rate = 1750
	cluster := kfake.MustCluster(kfake.NumBrokers(1))
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	store := embedded.OpenMemory()
	defer store.Close()
	svc := commands.New(commands.Config{Store: store})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	k := kafka.Config{Brokers: brokers}
	fwd := forwarder.New(store, k)
	for _, run := range []func(context.Context) error{fwd.Run,
		booking.New(k, "ledger", kafkamsg.SchemaLedgerUpdated, ledger.New(ledger.NewMemoryStore())).Run,
		booking.New(k, "wallet", kafkamsg.SchemaWalletUpdated, wallet.New(wallet.NewMemoryStore())).Run,
		completion.New(svc, k).Run} {
		wg.Go(func() { _ = run(ctx) })
	}
	defer func() { cancel(); wg.Wait() }()

	// Warm up: groups joined, producers initialised, before anything is timed.
	if _, err := kafkatest.AppendApproved(ctx, store, "warm-up", kafkatest.Line{SellerID: "s1", Amount: 1}); err != nil {
		b.Fatal(err)
	}
	for p, _ := svc.Load(ctx, "warm-up"); !p.IsPaymentDone; p, _ = svc.Load(ctx, "warm-up") {
		time.Sleep(10 * time.Millisecond)
	}
	b.ResetTimer()
	start := time.Now()
	tick := time.NewTicker(time.Second / rate)
	for i := range b.N {
		<-tick.C
		if _, err := kafkatest.AppendApproved(ctx, store, fmt.Sprintf("order-%07d", i),
			kafkatest.Line{SellerID: "s1", Amount: 1000}, kafkatest.Line{SellerID: "s2", Amount: 2000}); err != nil {
			b.Fatal(err)
		}
	}
	tick.Stop()
	lat := make([]time.Duration, 0, b.N)
	for i := range b.N {
		id := fmt.Sprintf("order-%07d", i)
		for {
			events, err := svc.Events(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			var approved, done time.Time
			for _, e := range events {
				switch e.Type {
				case aggregate.NamePspApproved:
					approved = e.RecordedAt
				case aggregate.NamePaymentCompleted:
					done = e.RecordedAt
				}
			}
			if !done.IsZero() {
				lat = append(lat, done.Sub(approved))
				break
			}
			if time.Since(start) > 5*time.Minute {
				b.Fatalf("%s never completed", id)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	elapsed := time.Since(start)
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "payments/s")
}
