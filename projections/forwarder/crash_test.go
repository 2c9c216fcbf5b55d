package forwarder_test

import (
	"context"
	"log/slog"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/paystream/paystream/eventstore/embedded"
	"github.com/paystream/paystream/kafka"
	"github.com/paystream/paystream/kafkamsg"
	"github.com/paystream/paystream/kafkamsg/kafkatest"
	"github.com/paystream/paystream/projections/forwarder"
)

// crashSpecs are the forwarder's crash specs on one backend: the broker killed (kill -9 of
// Apache Kafka's JVM; kfake's data directory as the kill left it) while it held a commit.
var crashSpecs = func(backend kafkatest.Backend) {
	It("starts from its checkpoint when the broker was killed with the checkpoint's transaction open", func(ctx SpecContext) {
		cluster, err := backend.Start(ctx)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(cluster.Close)
		brokers := cluster.Brokers()
		store := embedded.OpenMemory()
		DeferCleanup(store.Close)
		var orders []string
		total := decimal.Zero
		approve := func(from, n int) {
			for i := from; i < from+n; i++ {
				id := "order-" + string(rune('a'+i/26)) + string(rune('a'+i%26))
				amt, err := kafkatest.AppendApproved(ctx, store, id, kafkatest.Line{SellerID: "s1", Amount: 1000 + int64(i)})
				Expect(err).NotTo(HaveOccurred())
				orders, total = append(orders, id), total.Add(amt)
			}
		}
		approve(0, 5)
		f := forwarder.New(store, kafka.Config{Brokers: brokers}, forwarder.WithIdleCheckpoint(50*time.Millisecond))
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- f.Run(rctx) }()
		Eventually(f.Published).WithContext(ctx).WithTimeout(20 * time.Second).Should(BeEquivalentTo(5))
		cancel()
		Eventually(done).WithContext(ctx).WithTimeout(20 * time.Second).Should(Receive(BeNil()))

		approve(5, 5)
		// The broker holds the next commit, the transaction open, and dies while it does.
		held, release, err := cluster.HoldCommit("paystream-forwarder", 1)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(release)
		f = forwarder.New(store, kafka.Config{Brokers: brokers,
			ClientOptions: []kgo.Opt{kgo.RetryTimeout(time.Second), kgo.RequestRetries(1)}}) // gives up soon once the broker is gone
		go func() { done <- f.Run(ctx) }()
		Eventually(held).WithContext(ctx).WithTimeout(20 * time.Second).Should(BeClosed())

		Expect(cluster.Kill()).To(Succeed()) // the second transaction still open
		release()
		Eventually(done).WithContext(ctx).WithTimeout(30 * time.Second).Should(Receive(HaveOccurred()))
		Expect(cluster.Restart(ctx)).To(Succeed())

		f = forwarder.New(store, kafka.Config{Brokers: brokers, Logger: slog.New(slog.NewTextHandler(GinkgoWriter, nil))},
			forwarder.WithIdleCheckpoint(50*time.Millisecond))
		rctx, cancel = context.WithCancel(ctx)
		go func() { done <- f.Run(rctx) }()
		DeferCleanup(func() { cancel(); Eventually(done).WithTimeout(20 * time.Second).Should(Receive()) })
		approve(10, 3)
		Eventually(func(g Gomega) {
			recs, err := kafkatest.ReadCommitted(ctx, brokers, kafkamsg.TopicApproved)
			g.Expect(err).NotTo(HaveOccurred())
			ids := map[string]int{}
			for _, r := range recs {
				ids[string(r.Key)]++
			}
			g.Expect(ids).To(HaveLen(len(orders)))
			for _, id := range orders {
				g.Expect(ids[id]).To(Equal(1), "approvals of %s", id)
			}
		}).WithContext(ctx).WithTimeout(60 * time.Second).Should(Succeed())
		Expect(f.Published()).To(BeEquivalentTo(8), "the 5 aborted at the crash and the 3 after it")
	}, SpecTimeout(3*time.Minute))
}
