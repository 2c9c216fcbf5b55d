package main

import (
	"bytes"
	"context"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/paystream/paystream/kafkamsg"
	"github.com/paystream/paystream/kafkamsg/kafkatest"
	"github.com/paystream/paystream/postgres/pgtest"
	"github.com/paystream/paystream/wallet"
	"github.com/paystream/paystream/wallet/postgres"
)

var _ = AfterSuite(func(ctx SpecContext) { Expect(pgtest.StopShared(ctx)).To(Succeed()) })

// syncBuffer is the log output of a run in a goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var _ = Describe("run", func() {
	Context("against Kafka", func() {
		var (
			brokers []string
			env     map[string]string
			logs    *syncBuffer
		)
		BeforeEach(func() {
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, kafkamsg.TopicApproved))
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(cluster.Close)
			brokers = cluster.ListenAddrs()
			env = map[string]string{"KAFKA_BROKERS": brokers[0]}
			logs = &syncBuffer{}
		})

		// start runs the wallet until the spec stops it.
		start := func() (stop func()) {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, logs) }()
			return func() {
				cancel()
				Eventually(done).WithTimeout(20 * time.Second).Should(Receive(Not(HaveOccurred())))
			}
		}
		produce := func(ctx context.Context, id string) {
			a := kafkamsg.Approved{Schema: kafkamsg.SchemaApproved, OrderID: "order-" + id, SourceEventID: id,
				TotalAmount: decimal.NewFromInt(1500), Orders: []kafkamsg.ApprovedOrder{{Seq: 1, SellerID: "s1", Amount: decimal.NewFromInt(1500)}}}
			cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
			Expect(err).NotTo(HaveOccurred())
			defer cl.Close()
			v, err := a.Marshal()
			Expect(err).NotTo(HaveOccurred())
			Expect(cl.ProduceSync(ctx, &kgo.Record{Topic: kafkamsg.TopicApproved, Key: []byte(a.OrderID), Value: v}).FirstErr()).To(Succeed())
		}
		completions := func(ctx context.Context) func() (int, error) {
			return func() (int, error) {
				recs, err := kafkatest.ReadCommitted(ctx, brokers, kafkamsg.TopicWalletUpdated)
				return len(recs), err
			}
		}

		It("says so when storage is in memory, not durable", func(ctx SpecContext) {
			stop := start()
			produce(ctx, "m1")
			Eventually(completions(ctx)).WithContext(ctx).WithTimeout(20 * time.Second).Should(Equal(1))
			stop()
			Expect(logs.String()).To(And(ContainSubstring(`"storage":"memory"`), ContainSubstring("not durable")))
		})

		It("with DATABASE_URL, credits in PostgreSQL and still credits a redelivery once after a restart", func(ctx SpecContext) {
			cluster, err := pgtest.Shared(ctx, os.Getenv("DATABASE_URL"))
			Expect(err).NotTo(HaveOccurred(), "PostgreSQL is required: install postgresql-15 or set DATABASE_URL")
			env["DATABASE_URL"], err = cluster.NewDatabase(ctx)
			Expect(err).NotTo(HaveOccurred())

			stop := start()
			produce(ctx, "m1")
			Eventually(completions(ctx)).WithContext(ctx).WithTimeout(20 * time.Second).Should(Equal(1))
			stop()
			Expect(logs.String()).To(ContainSubstring(`"storage":"postgres"`))
			Expect(logs.String()).NotTo(ContainSubstring(env["DATABASE_URL"]))

			stop = start()
			produce(ctx, "m1") // the same approval again, at a new offset: a redelivery
			Eventually(completions(ctx)).WithContext(ctx).WithTimeout(20 * time.Second).Should(Equal(2))
			stop()

			pool, err := pgxpool.New(ctx, env["DATABASE_URL"])
			Expect(err).NotTo(HaveOccurred())
			defer pool.Close()
			store, err := postgres.Open(ctx, pool)
			Expect(err).NotTo(HaveOccurred())
			w := wallet.New(store)
			Expect(w.Applied(ctx)).To(Equal(1))
			Expect(w.Balance(ctx, "s1")).To(WithTransform(decimal.Decimal.String, Equal("1500")))
		})
	})
})
