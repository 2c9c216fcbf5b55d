package kafkamsg_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/paystream/paystream/kafkamsg"
	"github.com/paystream/paystream/kafkamsg/kafkatest"
)

var _ = Describe("After the in-process broker is killed with a transaction open", func() {
	const topic = "t"
	var brokers []string

	// transact commits value in one transaction of producer "p"; open leaves it open, as
	// the kill finds it.
	transact := func(ctx context.Context, value string, open bool) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID("p"), kgo.DefaultProduceTopic(topic))
		Expect(err).NotTo(HaveOccurred())
		defer cl.Close()
		Expect(cl.BeginTransaction()).To(Succeed())
		Expect(cl.ProduceSync(ctx, &kgo.Record{Value: []byte(value)}).FirstErr()).To(Succeed())
		if !open {
			Expect(cl.EndTransaction(ctx, kgo.TryCommit)).To(Succeed())
		}
	}
	values := func(ctx context.Context) []string {
		recs, err := kafkatest.ReadCommitted(ctx, brokers, topic)
		Expect(err).NotTo(HaveOccurred())
		var out []string
		for _, r := range recs {
			out = append(out, string(r.Value))
		}
		return out
	}

	BeforeEach(func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir), kfake.SyncWrites(), kfake.SeedTopics(1, topic))
		Expect(err).NotTo(HaveOccurred())
		brokers = cluster.ListenAddrs()
		transact(ctx, "a", false)
		transact(ctx, "b", true)
		image := GinkgoT().TempDir()
		Expect(kafkatest.CrashCopy(dir, image)).To(Succeed())
		cluster.Close()
		cluster, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(image), kfake.SyncWrites())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(cluster.Close)
		brokers = cluster.ListenAddrs()
	})

	It("ReadCommitted reads to the end though the log ends in aborted records with no marker", func(ctx SpecContext) {
		Expect(values(ctx)).To(Equal([]string{"a"}))
	})

	It("MarkCrashAborted writes the missing abort marker, so what the producer commits next is read", func(ctx SpecContext) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
		Expect(err).NotTo(HaveOccurred())
		defer cl.Close()
		Expect(kafkamsg.MarkCrashAborted(ctx, cl)).To(Equal(1))
		Expect(kafkamsg.MarkCrashAborted(ctx, cl)).To(Equal(0), "nothing is left open")

		transact(ctx, "c", false) // the restarted producer: same transactional id, same producer id
		Expect(values(ctx)).To(Equal([]string{"a", "c"}))

		// And a consumer group reading committed, as the ledger, wallet and completion do.
		group, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumerGroup("g"), kgo.ConsumeTopics(topic),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		Expect(err).NotTo(HaveOccurred())
		defer group.Close()
		var got []string
		Eventually(func() []string {
			pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			group.PollFetches(pctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
			return got
		}).WithContext(ctx).WithTimeout(10 * time.Second).Should(Equal([]string{"a", "c"}))
	})
})
