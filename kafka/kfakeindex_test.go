package kafka_test

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/paystream/paystream/kafka"
	"github.com/paystream/paystream/kafkamsg/kafkatest"
)

var _ = Describe("RepairIndexes, on the in-process broker's data directory", func() {
	const topic = "t"
	var (
		dir     string
		cluster *kfake.Cluster
		brokers []string
	)
	open := func(d string) {
		var err error
		cluster, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(d), kfake.SyncWrites(), kfake.SeedTopics(2, topic))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(cluster.Close)
		brokers = cluster.ListenAddrs()
	}
	// transact writes values to partition 0 in one transaction of producer "p", and
	// commits it, aborts it, or leaves it open as a kill finds it.
	transact := func(ctx context.Context, end string, values ...string) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID("p"), kgo.DefaultProduceTopic(topic),
			kgo.RecordPartitioner(kgo.ManualPartitioner()))
		Expect(err).NotTo(HaveOccurred())
		defer cl.Close()
		Expect(cl.BeginTransaction()).To(Succeed())
		for _, v := range values {
			Expect(cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr()).To(Succeed())
		}
		switch end {
		case "commit":
			Expect(cl.EndTransaction(ctx, kgo.TryCommit)).To(Succeed())
		case "abort":
			Expect(cl.EndTransaction(ctx, kgo.TryAbort)).To(Succeed())
		}
	}
	values := func(ctx context.Context) []string { return committedValues(ctx, brokers, topic) }
	index := filepath.Join("partitions", topic+"-0", "0.idx")

	BeforeEach(func(ctx SpecContext) {
		dir = GinkgoT().TempDir()
		open(dir)
		plain, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
		Expect(err).NotTo(HaveOccurred())
		Expect(plain.ProduceSync(ctx, &kgo.Record{Value: []byte("plain")}).FirstErr()).To(Succeed())
		plain.Close()
		transact(ctx, "commit", "a1", "a2")
		transact(ctx, "abort", "x")
	})

	It("derives the index kfake writes, byte for byte, and repairs nothing after a clean shutdown", func(ctx SpecContext) {
		Expect(values(ctx)).To(Equal([]string{"plain", "a1", "a2"}))
		cluster.Close()
		idx, err := os.ReadFile(filepath.Join(dir, index))
		Expect(err).NotTo(HaveOccurred())
		Expect(idx).To(HaveLen(6*15), "plain, a1, a2, commit marker, x, abort marker")
		Expect(kafka.SegmentIndex(filepath.Join(dir, "partitions", topic+"-0", "0.dat"))).To(Equal(idx),
			"kfake's index format changed: see RepairIndexes")

		// A batch a kill cut short at the end of the segment has no entry: kfake truncates it.
		seg := filepath.Join(dir, "partitions", topic+"-0", "0.dat")
		data, err := os.ReadFile(seg)
		Expect(err).NotTo(HaveOccurred())
		first := 12 + int(binary.BigEndian.Uint32(data[8:12])) // the segment's first batch, whole
		Expect(os.WriteFile(seg, append(data, data[:first-1]...), 0o644)).To(Succeed())
		Expect(kafka.SegmentIndex(seg)).To(Equal(idx))
		Expect(kafka.RepairIndexes(dir)).To(BeEmpty())
		Expect(kafka.RepairIndexes(GinkgoT().TempDir())).To(BeEmpty(), "a directory kfake never wrote")

		// As kfake's compaction writes it: the transaction flags of ended transactions
		// cleared. An entry per batch: left alone.
		for i := 0; i < len(idx); i += 15 {
			idx[i+14] = 0
			idx[i+1] = byte(crc32.Checksum(idx[i+2:i+15], crc32.MakeTable(crc32.Castagnoli)))
		}
		Expect(os.WriteFile(filepath.Join(dir, index), idx, 0o644)).To(Succeed())
		Expect(kafka.RepairIndexes(dir)).To(BeEmpty())
		Expect(os.ReadFile(filepath.Join(dir, index))).To(Equal(idx))
	})

	It("rebuilds an index a kill cut short after a batch of an open transaction, so that it stays aborted", func(ctx SpecContext) {
		transact(ctx, "open", "b")
		image := GinkgoT().TempDir()
		Expect(kafkatest.CrashCopy(dir, image)).To(Succeed())
		// The kill came after the batch of b reached the segment and before its entry
		// reached the index.
		idx := filepath.Join(image, index)
		info, err := os.Stat(idx)
		Expect(err).NotTo(HaveOccurred())
		Expect(os.Truncate(idx, info.Size()-15)).To(Succeed())
		cluster.Close()

		Expect(kafka.RepairIndexes(image)).To(Equal([]string{idx}))
		Expect(kafka.RepairIndexes(image)).To(BeEmpty(), "repaired once")
		open(image)
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
		Expect(err).NotTo(HaveOccurred())
		defer cl.Close()
		Expect(kafka.RecoverCrashed(ctx, cl)).To(Equal(kafka.CrashRecovery{Aborted: 1}))
		Expect(values(ctx)).To(Equal([]string{"plain", "a1", "a2"}), "b's transaction never committed")
		transact(ctx, "commit", "c")
		Expect(values(ctx)).To(Equal([]string{"plain", "a1", "a2", "c"}))
	})

	It("rebuilds an index whose entries a kill left one batch off, before later batches were added", func(ctx SpecContext) {
		// An entry lost in the middle: kfake's recovery kept appending, every later batch
		// described by its successor's entry.
		idxPath := filepath.Join(dir, index)
		cluster.Close()
		idx, err := os.ReadFile(idxPath)
		Expect(err).NotTo(HaveOccurred())
		Expect(os.WriteFile(idxPath, append(idx[:15:15], idx[30:]...), 0o644)).To(Succeed())
		Expect(kafka.RepairIndexes(dir)).To(Equal([]string{idxPath}))
		repaired, err := os.ReadFile(idxPath)
		Expect(err).NotTo(HaveOccurred())
		Expect(repaired).To(Equal(idx))
		open(dir)
		Expect(values(ctx)).To(Equal([]string{"plain", "a1", "a2"}))
	})
})
