package booking_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/paystream/paystream/booking"
	"github.com/paystream/paystream/kafka"
	"github.com/paystream/paystream/kafkamsg"
	"github.com/paystream/paystream/kafkamsg/kafkatest"
	"github.com/paystream/paystream/ledger"
)

func start(c *booking.Consumer) (stop func() error, done chan error) {
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			return errors.New("consumer did not stop")
		}
	}, done
}

// consumerSpecs are the booking consumer's specs on one backend (the suite runs them on
// every backend).
var consumerSpecs = func(backend kafkatest.Backend) {
	var (
		cluster kafkatest.Cluster
		brokers []string
		l       *ledger.Ledger
		total   decimal.Decimal
	)

	produce := func(ctx context.Context, from, n int) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.AllowAutoTopicCreation())
		Expect(err).NotTo(HaveOccurred())
		defer cl.Close()
		for i := from; i < from+n; i++ {
			a := kafkamsg.Approved{Schema: kafkamsg.SchemaApproved, OrderID: fmt.Sprintf("order-%d", i),
				SourceEventID: fmt.Sprintf("event-%d", i), TotalAmount: decimal.NewFromInt(int64(1000 + i)),
				Orders: []kafkamsg.ApprovedOrder{{Seq: 1, SellerID: "s1", Amount: decimal.NewFromInt(int64(1000 + i))}}}
			v, _ := a.Marshal()
			Expect(cl.ProduceSync(ctx, &kgo.Record{Topic: kafkamsg.TopicApproved, Key: []byte(a.OrderID), Value: v}).FirstErr()).To(Succeed())
			total = total.Add(a.TotalAmount)
		}
	}
	booked := func(ctx context.Context, n int) {
		Eventually(func(g Gomega) {
			txs, _ := l.Transactions(ctx)
			g.Expect(txs).To(HaveLen(n))
			credits := decimal.Zero
			for _, b := range must(l.Balances(ctx)) {
				credits = credits.Add(b.Credits)
			}
			g.Expect(credits.Equal(total)).To(BeTrue(), "Σ credits %s, want %s", credits, total)
			recs, err := kafkatest.ReadCommitted(ctx, brokers, kafkamsg.TopicLedgerUpdated)
			g.Expect(err).NotTo(HaveOccurred())
			orders := map[string]bool{}
			for _, r := range recs {
				c, err := kafkamsg.DecodeCompletion(r.Value)
				g.Expect(err).NotTo(HaveOccurred())
				orders[c.OrderID] = true
			}
			g.Expect(orders).To(HaveLen(n))
		}).WithContext(ctx).WithTimeout(20 * time.Second).Should(Succeed())
	}

	BeforeEach(func(ctx SpecContext) {
		var err error
		cluster, err = backend.Start(ctx)
		Expect(err).NotTo(HaveOccurred())
		brokers = cluster.Brokers()
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
		Expect(err).NotTo(HaveOccurred())
		defer cl.Close()
		Expect(kafka.EnsureTopics(ctx, cl, kafka.Topic{Name: kafkamsg.TopicApproved, Partitions: 3})).To(Succeed())
		l = ledger.New(ledger.NewMemoryStore())
		total = decimal.Zero
		DeferCleanup(cluster.Close)
	})

	Context("with well-formed approvals", func() {
		It("books each once and publishes a completion for each", func(ctx SpecContext) {
			produce(ctx, 0, 30)
			stop, _ := start(booking.New(kafka.Config{Brokers: brokers}, "ledger", kafkamsg.SchemaLedgerUpdated, l))
			booked(ctx, 30)
			Expect(stop()).To(Succeed())

			produce(ctx, 30, 5) // a restarted consumer goes on from the committed offsets
			stop, _ = start(booking.New(kafka.Config{Brokers: brokers}, "ledger", kafkamsg.SchemaLedgerUpdated, l))
			booked(ctx, 35)
			Expect(stop()).To(Succeed())
		})
	})

	Context("with refunds on the approvals topic", func() {
		It("books them after their approval, and completes those booked against the sellers", func(ctx SpecContext) {
			produce(ctx, 0, 1) // order-0, event-0: 1000 to s1
			cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
			Expect(err).NotTo(HaveOccurred())
			refund := func(schema, refundID, messageID, amount string, orders ...kafkamsg.RefundedOrder) {
				r := kafkamsg.Refunded{Schema: schema, OrderID: "order-0", RefundID: refundID, ApprovalID: "event-0",
					SourceEventID: messageID, Amount: decimal.RequireFromString(amount), Orders: orders}
				v, err := r.Marshal()
				Expect(err).NotTo(HaveOccurred())
				Expect(cl.ProduceSync(ctx, &kgo.Record{Topic: kafkamsg.TopicApproved, Key: []byte("order-0"), Value: v}).FirstErr()).To(Succeed())
			}
			refund(kafkamsg.SchemaRefunded, "refund-r1", "r1", "300", kafkamsg.RefundedOrder{Seq: 1, SellerID: "s1", Amount: decimal.NewFromInt(300)})
			refund(kafkamsg.SchemaRefunded, "refund-r2", "r2", "200") // made at the PSP, orders unknown
			refund(kafkamsg.SchemaRefundAllocated, "refund-r2", "a2", "200", kafkamsg.RefundedOrder{Seq: 1, SellerID: "s1", Amount: decimal.NewFromInt(200)})
			cl.Close()
			stop, _ := start(booking.New(kafka.Config{Brokers: brokers}, "ledger", kafkamsg.SchemaLedgerUpdated, l))
			Eventually(func(g Gomega) {
				recs, err := kafkatest.ReadCommitted(ctx, brokers, kafkamsg.TopicLedgerUpdated)
				g.Expect(err).NotTo(HaveOccurred())
				var refunds []string
				for _, r := range recs {
					if kafkamsg.SchemaOf(r.Value) == kafkamsg.SchemaRefundBooked {
						b, err := kafkamsg.DecodeRefundBooked(r.Value)
						g.Expect(err).NotTo(HaveOccurred())
						refunds = append(refunds, b.By+" "+b.RefundID+" "+b.SourceMessageID)
					}
				}
				g.Expect(refunds).To(Equal([]string{"ledger refund-r1 r1", "ledger refund-r2 a2"}))
			}).WithContext(ctx).WithTimeout(20 * time.Second).Should(Succeed())
			Expect(stop()).To(Succeed())
			s1 := must(l.Balance(ctx, ledger.SellerPayable("s1")))
			Expect(s1.Net().String()).To(Equal("-500"), "1000 booked, 300 and 200 refunded")
			Expect(must(l.Balance(ctx, ledger.AccountRefundsUnallocated)).Net().IsZero()).To(BeTrue())
		})
	})

	Context("when the consumer is killed mid-transaction", func() {
		It("consumes the records again, books nothing twice and completes every approval", func(ctx SpecContext) {
			produce(ctx, 0, 20)
			// The broker meets the first commit as it meets a consumer killed there and restarted:
			// the restart's producer aborts the open transaction.
			_, err := cluster.FenceCommit("paystream-ledger", 1)
			Expect(err).NotTo(HaveOccurred())
			stop, done := start(booking.New(kafka.Config{Brokers: brokers}, "ledger", kafkamsg.SchemaLedgerUpdated, l,
				booking.WithMaxPollRecords(7)))
			Eventually(done).WithContext(ctx).WithTimeout(10 * time.Second).Should(Receive(HaveOccurred()))
			_ = stop()
			txs, _ := l.Transactions(ctx)
			Expect(txs).NotTo(BeEmpty()) // booked in storage, but neither offsets nor completions committed
			recs, err := kafkatest.ReadCommitted(ctx, brokers, kafkamsg.TopicLedgerUpdated)
			Expect(err).NotTo(HaveOccurred())
			Expect(recs).To(BeEmpty())

			stop, _ = start(booking.New(kafka.Config{Brokers: brokers}, "ledger", kafkamsg.SchemaLedgerUpdated, l, booking.WithMaxPollRecords(7)))
			booked(ctx, 20)
			Expect(stop()).To(Succeed())
		})
	})

	Context("with a malformed approval", func() {
		It("parks it on the DLQ and books the rest", func(ctx SpecContext) {
			produce(ctx, 0, 3)
			cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
			Expect(err).NotTo(HaveOccurred())
			Expect(cl.ProduceSync(ctx, &kgo.Record{Topic: kafkamsg.TopicApproved, Key: []byte("x"), Value: []byte("{oops")}).FirstErr()).To(Succeed())
			cl.Close()
			produce(ctx, 3, 3)
			stop, _ := start(booking.New(kafka.Config{Brokers: brokers}, "ledger", kafkamsg.SchemaLedgerUpdated, l))
			booked(ctx, 6)
			Eventually(func() ([]*kgo.Record, error) {
				return kafkatest.ReadCommitted(ctx, brokers, kafkamsg.TopicApprovedDLQ)
			}).WithContext(ctx).Should(ConsistOf(HaveField("Value", Equal([]byte("{oops")))))
			Expect(stop()).To(Succeed())
		})
	})

	Context("when a second instance with the same transactional id starts", func() {
		It("fences the first", func(ctx SpecContext) {
			produce(ctx, 0, 3)
			_, firstDone := start(booking.New(kafka.Config{Brokers: brokers}, "ledger", kafkamsg.SchemaLedgerUpdated, l,
				booking.WithGroup("g1")))
			booked(ctx, 3)
			stop, _ := start(booking.New(kafka.Config{Brokers: brokers}, "ledger", kafkamsg.SchemaLedgerUpdated, l, booking.WithGroup("g2")))
			// The second takes the transactional id over when it first produces, not when it
			// starts: only once its first transaction committed must the first find itself
			// fenced (before that, the first may book the next records itself and then idle).
			Eventually(func(g Gomega) {
				cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
				g.Expect(err).NotTo(HaveOccurred())
				defer cl.Close()
				offsets, err := kadm.NewClient(cl).FetchOffsets(ctx, "g2")
				g.Expect(err).NotTo(HaveOccurred())
				var consumed int64
				offsets.Each(func(o kadm.OffsetResponse) { consumed += o.At })
				g.Expect(consumed).To(BeEquivalentTo(3))
			}).WithContext(ctx).WithTimeout(20 * time.Second).Should(Succeed())
			produce(ctx, 3, 3)
			Eventually(firstDone).WithContext(ctx).WithTimeout(15 * time.Second).Should(Receive(MatchError(kafka.ErrFenced)))
			booked(ctx, 6)
			Expect(stop()).To(Succeed())
		})
	})
}

func must[T any](v T, err error) T {
	Expect(err).NotTo(HaveOccurred())
	return v
}
