package forwarder_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/paystream/paystream/eventstore/embedded"
	"github.com/paystream/paystream/kafka"
	"github.com/paystream/paystream/kafkamsg/kafkatest"
	"github.com/paystream/paystream/projections/forwarder"
)

// BenchmarkForwarder measures catch-up throughput: b.N approvals already in the store,
// published to kfake in transactions of up to 500. Run:
//
//	go test ./projections/forwarder -run '^$' -bench Forwarder -benchtime 20000x
func BenchmarkForwarder(b *testing.B) {
	cluster := kfake.MustCluster(kfake.NumBrokers(1))
	defer cluster.Close()
	store := embedded.OpenMemory()
	defer store.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := range b.N {
		if _, err := kafkatest.AppendApproved(ctx, store, fmt.Sprintf("order-%07d", i),
			kafkatest.Line{SellerID: "s1", Amount: 1000}, kafkatest.Line{SellerID: "s2", Amount: 2000}); err != nil {
			b.Fatal(err)
		}
	}
	f := forwarder.New(store, kafka.Config{Brokers: cluster.ListenAddrs()})
	b.ResetTimer()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	for f.Published() < int64(b.N) {
		select {
		case err := <-done:
			b.Fatal(err)
		case <-time.After(2 * time.Millisecond):
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
