package kafka_test

import (
	"context"
	"os"
	"path/filepath"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/paystream/paystream/kafka"
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
	values := func(ctx context.Context) []string { return committedValues(ctx, brokers, topic) }

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

	It("RecoverCrashed writes the missing abort marker, so what the producer commits next is read", func(ctx SpecContext) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
		Expect(err).NotTo(HaveOccurred())
		defer cl.Close()
		Expect(kafka.RecoverCrashed(ctx, cl)).To(Equal(kafka.CrashRecovery{Aborted: 1}), "committed nowhere: aborted")
		Expect(kafka.RecoverCrashed(ctx, cl)).To(Equal(kafka.CrashRecovery{}), "nothing is left open")

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

var _ = Describe("After the in-process broker is killed while it writes a transaction's commit markers", func() {
	// kfake (pkg/kfake, txns.go, endTx) commits a transaction by writing its commit marker to
	// one partition after the other, with nothing durable before the first; a kill -9 in
	// between leaves the transaction committed in some partitions and open in the others,
	// and its crash recovery (persist.go, loadPartitionFullReplay) then treats the open part
	// as aborted. The image is built from two crash copies: partition "a" after the commit,
	// partition "b" (and the producer log) from before it.
	var brokers []string

	values := func(ctx context.Context, topic string) []string { return committedValues(ctx, brokers, topic) }
	// transact commits n to both topics in one transaction of producer "p".
	transact := func(ctx context.Context, n string) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID("p"))
		Expect(err).NotTo(HaveOccurred())
		defer cl.Close()
		Expect(cl.BeginTransaction()).To(Succeed())
		Expect(cl.ProduceSync(ctx, &kgo.Record{Topic: "a", Value: []byte("a" + n)}, &kgo.Record{Topic: "b", Value: []byte("b" + n)}).FirstErr()).To(Succeed())
		Expect(cl.EndTransaction(ctx, kgo.TryCommit)).To(Succeed())
	}

	BeforeEach(func(ctx SpecContext) {
		dir := GinkgoT().TempDir()
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dir), kfake.SyncWrites(), kfake.SeedTopics(1, "a", "b"))
		Expect(err).NotTo(HaveOccurred())
		brokers = cluster.ListenAddrs()
		transact(ctx, "1")
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID("p"))
		Expect(err).NotTo(HaveOccurred())
		Expect(cl.BeginTransaction()).To(Succeed())
		Expect(cl.ProduceSync(ctx, &kgo.Record{Topic: "a", Value: []byte("a2")}, &kgo.Record{Topic: "b", Value: []byte("b2")}).FirstErr()).To(Succeed())
		before := GinkgoT().TempDir()
		Expect(kafkatest.CrashCopy(dir, before)).To(Succeed())
		Expect(cl.EndTransaction(ctx, kgo.TryCommit)).To(Succeed())
		cl.Close()
		image := GinkgoT().TempDir()
		Expect(kafkatest.CrashCopy(dir, image)).To(Succeed())
		cluster.Close()
		// The kill came after the marker in "a" and before the one in "b" (and before the
		// producer log's end-of-transaction entry): kfake's own file layout.
		for _, f := range []string{filepath.Join("partitions", "b-0"), "pids.log"} {
			Expect(os.RemoveAll(filepath.Join(image, f))).To(Succeed())
			Expect(kafkatest.CrashCopy(filepath.Join(before, f), filepath.Join(image, f))).To(Succeed())
		}
		cluster, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(image), kfake.SyncWrites())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(cluster.Close)
		brokers = cluster.ListenAddrs()
	})

	It("the image is what the kill leaves: the transaction committed in a, aborted in b", func(ctx SpecContext) {
		Expect(values(ctx, "a")).To(Equal([]string{"a1", "a2"}))
		Expect(values(ctx, "b")).To(Equal([]string{"b1"}))
	})

	It("RecoverCrashed completes the transaction in b, so what it committed and what the producer commits next are read", func(ctx SpecContext) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
		Expect(err).NotTo(HaveOccurred())
		defer cl.Close()
		Expect(kafka.RecoverCrashed(ctx, cl)).To(Equal(kafka.CrashRecovery{Aborted: 1, Completed: 1, Reappended: 1}))
		Expect(kafka.RecoverCrashed(ctx, cl)).To(Equal(kafka.CrashRecovery{}), "nothing is left open")

		transact(ctx, "3") // the restarted producer
		Expect(values(ctx, "a")).To(Equal([]string{"a1", "a2", "a3"}))
		Expect(values(ctx, "b")).To(Equal([]string{"b1", "b2", "b3"}))

		group, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("b"),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		Expect(err).NotTo(HaveOccurred())
		defer group.Close()
		var got []string
		Eventually(func() []string {
			pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			defer cancel()
			group.PollFetches(pctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
			return got
		}).WithContext(ctx).WithTimeout(10 * time.Second).Should(Equal([]string{"b1", "b2", "b3"}))
	})
})
