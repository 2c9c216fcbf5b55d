package completion_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/booking"
	"github.com/paystream/paystream/books"
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

// supervise runs fn until ctx ends, again after every failure (as an operator's restart
// policy would); it returns when fn returned for the last time.
func supervise(ctx context.Context, wg *sync.WaitGroup, fn func(context.Context) error) {
	wg.Go(func() {
		for ctx.Err() == nil {
			if err := fn(ctx); err != nil {
				GinkgoWriter.Println("restarting after:", err)
				select {
				case <-ctx.Done():
				case <-time.After(50 * time.Millisecond):
				}
			}
		}
	})
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// completionSpecs are the completion consumer's specs on one backend (the suite runs them
// on every backend).
var completionSpecs = func(backend kafkatest.Backend) {
	var (
		cluster kafkatest.Cluster
		brokers []string
		store   *embedded.Store
		svc     *commands.Service
		orders  []string
		total   decimal.Decimal
	)

	approve := func(ctx context.Context, from, n int) {
		for i := from; i < from+n; i++ {
			id := fmt.Sprintf("order-%04d", i)
			amt, err := kafkatest.AppendApproved(ctx, store, id, kafkatest.Line{SellerID: "s" + strconv.Itoa(i%3), Amount: 1000 + int64(i)},
				kafkatest.Line{SellerID: "s9", Amount: 700})
			Expect(err).NotTo(HaveOccurred())
			orders, total = append(orders, id), total.Add(amt)
		}
	}
	allDone := func(g Gomega, ctx context.Context) {
		for _, id := range orders {
			p, err := svc.Load(ctx, id)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(p.IsPaymentDone).To(BeTrue(), "payment %s done", id)
		}
	}

	BeforeEach(func(ctx SpecContext) {
		var err error
		cluster, err = backend.Start(ctx)
		Expect(err).NotTo(HaveOccurred())
		brokers = cluster.Brokers()
		store = embedded.OpenMemory()
		svc = commands.New(commands.Config{Store: store})
		orders, total = nil, decimal.Zero
		DeferCleanup(func() { store.Close(); cluster.Close() })
	})

	Context("with completion messages written by hand", func() {
		var (
			logs *lockedBuffer
			c    *completion.Consumer
		)
		send := func(ctx context.Context, topic string, values ...string) {
			cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.AllowAutoTopicCreation())
			Expect(err).NotTo(HaveOccurred())
			defer cl.Close()
			for _, v := range values {
				Expect(cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte(v)}).FirstErr()).To(Succeed())
			}
		}
		completionOf := func(schema, orderID string, seqs ...int) string {
			data, _ := kafkamsg.Completion{Schema: schema, MessageID: schema + orderID + fmt.Sprint(seqs), OrderID: orderID, Orders: seqs}.Marshal()
			return string(data)
		}
		BeforeEach(func(ctx SpecContext) {
			logs = &lockedBuffer{}
			c = completion.New(svc, kafka.Config{Brokers: brokers, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
			runCtx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			supervise(runCtx, &wg, c.Run)
			DeferCleanup(func() { cancel(); wg.Wait() })
			approve(ctx, 0, 2)
		})

		It("parks and logs a malformed message, commits it, and goes on", func(ctx SpecContext) {
			send(ctx, kafkamsg.TopicLedgerUpdated, `{not json`, completionOf(kafkamsg.SchemaLedgerUpdated, "order-0000", 1, 2),
				completionOf(kafkamsg.SchemaLedgerUpdated, "order-unknown", 1))
			send(ctx, kafkamsg.TopicWalletUpdated, completionOf(kafkamsg.SchemaWalletUpdated, "order-0000", 1, 2))
			Eventually(func(g Gomega) { p, _ := svc.Load(ctx, "order-0000"); g.Expect(p.IsPaymentDone).To(BeTrue()) }).
				WithContext(ctx).Should(Succeed())
			Eventually(c.Parked).WithContext(ctx).Should(HaveLen(2))
			Expect(c.Parked()[0].Value).To(Equal([]byte(`{not json`)))
			Expect(logs.String()).To(ContainSubstring("completion message parked"))
			Eventually(func() ([]*kgo.Record, error) {
				return kafkatest.ReadCommitted(ctx, brokers, kafkamsg.TopicCompletionsDLQ)
			}).WithContext(ctx).Should(HaveLen(2))
		})

		It("lets duplicated and reordered completions change nothing", func(ctx SpecContext) {
			w, l := completionOf(kafkamsg.SchemaWalletUpdated, "order-0001", 2), completionOf(kafkamsg.SchemaLedgerUpdated, "order-0001", 1, 2)
			send(ctx, kafkamsg.TopicWalletUpdated, w, w, completionOf(kafkamsg.SchemaWalletUpdated, "order-0001", 1), w)
			send(ctx, kafkamsg.TopicLedgerUpdated, l, l)
			Eventually(func(g Gomega) { p, _ := svc.Load(ctx, "order-0001"); g.Expect(p.IsPaymentDone).To(BeTrue()) }).
				WithContext(ctx).Should(Succeed())
			Consistently(c.Parked).WithTimeout(300 * time.Millisecond).Should(BeEmpty())
			events, err := svc.Events(ctx, "order-0001")
			Expect(err).NotTo(HaveOccurred())
			count := map[string]int{}
			for _, e := range events {
				count[e.Type]++
			}
			Expect(count).To(HaveKeyWithValue("payment.completed.v1", 1))
			Expect(count).To(HaveKeyWithValue("payment.ledger-updated.v1", 1))
			Expect(count).To(HaveKeyWithValue("payment.wallet-updated.v1", 2))
		})
	})

	Context("the whole loop with refunds", func() {
		It("books every refund in the ledger and the wallets, records RefundBooked, and the books tie out per seller", func(ctx SpecContext) {
			ldg, wal := ledger.New(ledger.NewMemoryStore()), wallet.New(wallet.NewMemoryStore())
			tally := books.NewTally()
			k := kafka.Config{Brokers: brokers}
			runCtx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			DeferCleanup(func() { cancel(); wg.Wait() })
			supervise(runCtx, &wg, forwarder.New(store, k).Run)
			supervise(runCtx, &wg, booking.New(k, "ledger", kafkamsg.SchemaLedgerUpdated, ldg).Run)
			supervise(runCtx, &wg, booking.New(k, "wallet", kafkamsg.SchemaWalletUpdated, wal).Run)
			supervise(runCtx, &wg, completion.New(svc, k).Run)
			wg.Go(func() { _ = tally.Run(runCtx, store) })

			approve(ctx, 0, 6) // sellers s0, s1, s2 and s9
			now := time.Now().UTC()
			d := decimal.NewFromInt
			// order-0000: a refund of ours over both orders; order-0001: one made at Toss, unallocated,
			// then allocated by an operator; order-0002: refunded in full.
			Expect(kafkatest.AppendEvents(ctx, store, "order-0000", 2,
				aggregate.RefundRequested{RefundID: "order-0000-1", Amount: d(700), Orders: []aggregate.RefundSplit{{Seq: 1, Amount: d(400)},
					{Seq: 2, Amount: d(300)}}, Reason: "r", PspIdempotencyKey: "k1", At: now},
				aggregate.RefundApproved{RefundID: "order-0000-1", TransactionKey: "tk1", CanceledAt: now, Rule: "fixture", At: now},
			)).To(Succeed())
			Expect(kafkatest.AppendEvents(ctx, store, "order-0001", 2,
				aggregate.ExternalRefundRecorded{RefundID: "order-0001-1", TransactionKey: "tk2", Amount: d(500), FoundBy: "webhook", CanceledAt: now, At: now},
			)).To(Succeed())
			Expect(kafkatest.AppendEvents(ctx, store, "order-0002", 2,
				aggregate.RefundRequested{RefundID: "order-0002-1", Amount: d(1702), Orders: []aggregate.RefundSplit{{Seq: 1, Amount: d(1002)},
					{Seq: 2, Amount: d(700)}}, Reason: "r", PspIdempotencyKey: "k2", At: now},
				aggregate.RefundApproved{RefundID: "order-0002-1", TransactionKey: "tk3", CanceledAt: now, Rule: "fixture", At: now},
			)).To(Succeed())
			report := func(g Gomega) books.Report {
				r, err := books.New(tally, ldg, wal).Report(ctx)
				g.Expect(err).NotTo(HaveOccurred())
				return r
			}
			booked := func(g Gomega, orderID, refundID string) {
				p, err := svc.Load(ctx, orderID)
				g.Expect(err).NotTo(HaveOccurred())
				r, ok := p.RefundByID(refundID)
				g.Expect(ok).To(BeTrue())
				g.Expect([]bool{r.LedgerBooked, r.WalletBooked}).To(Equal([]bool{true, true}), "%s booked by ledger, wallet", refundID)
			}
			Eventually(func(g Gomega) {
				allDone(g, ctx)
				booked(g, "order-0000", "order-0000-1")
				booked(g, "order-0002", "order-0002-1")
				r := report(g)
				g.Expect(r.Unallocated.Streams.String()).To(Equal("500"))
				g.Expect(r.Unallocated.Ledger.String()).To(Equal("500"), "booked to refunds_unallocated")
				g.Expect(r.Differences).To(BeZero(), "%+v", r)
			}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())

			_, err := svc.AllocateRefund(ctx, commands.Allocation{OrderID: "order-0001", RefundID: "order-0001-1",
				Orders: []aggregate.RefundSplit{{Seq: 2, Amount: d(500)}}, Actor: "ops", Reason: "the card company's split"}, commands.Meta{Actor: "ops"})
			Expect(err).NotTo(HaveOccurred())
			Eventually(func(g Gomega) {
				booked(g, "order-0001", "order-0001-1")
				r := report(g)
				g.Expect(r.Differences).To(BeZero(), "%+v", r)
				g.Expect(r.Unallocated.Ledger.IsZero()).To(BeTrue())
				// Σ approved − Σ refunded = Σ ledger seller balances = Σ wallet balances
				g.Expect(r.Total.Expected.String()).To(Equal(total.Sub(d(700 + 500 + 1702)).String()))
				g.Expect(r.Total.Ledger.String()).To(Equal(r.Total.Expected.String()))
				g.Expect(r.Total.Wallet.String()).To(Equal(r.Total.Expected.String()))
				for _, s := range r.Sellers {
					g.Expect(s.Ledger.String()).To(Equal(s.Expected.String()), s.SellerID)
					g.Expect(s.Wallet.String()).To(Equal(s.Expected.String()), s.SellerID)
				}
			}).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())
		})
	})

	Context("the whole loop under faults", func() {
		It("keeps Σ approved = Σ ledger credits = Σ wallet balances, books nothing twice, and completes every payment", func(ctx SpecContext) {
			ldg, wal := ledger.New(ledger.NewMemoryStore()), wallet.New(wallet.NewMemoryStore())
			// The forwarder and the ledger each die at their first commit and are restarted: the
			// broker meets those commits as a restarted instance makes it (kafkatest.FenceCommit).
			_, err := cluster.FenceCommit("paystream-forwarder", 1)
			Expect(err).NotTo(HaveOccurred())
			_, err = cluster.FenceCommit("paystream-ledger", 1)
			Expect(err).NotTo(HaveOccurred())
			k := kafka.Config{Brokers: brokers}
			runCtx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			DeferCleanup(func() { cancel(); wg.Wait() })
			supervise(runCtx, &wg, forwarder.New(store, k, forwarder.WithMaxBatch(5)).Run)
			supervise(runCtx, &wg, booking.New(k, "ledger", kafkamsg.SchemaLedgerUpdated, ldg, booking.WithMaxPollRecords(4)).Run)
			supervise(runCtx, &wg, booking.New(k, "wallet", kafkamsg.SchemaWalletUpdated, wal).Run)
			supervise(runCtx, &wg, completion.New(svc, k).Run)

			approve(ctx, 0, 20)
			Eventually(func(g Gomega) { allDone(g, ctx) }).WithContext(ctx).WithTimeout(30 * time.Second).Should(Succeed())

			// The broker is killed (kill -9) and restarts under the running components.
			Expect(cluster.Kill()).To(Succeed())
			approve(ctx, 20, 10)
			Expect(cluster.Restart(ctx)).To(Succeed())
			approve(ctx, 30, 10)

			Eventually(func(g Gomega) {
				allDone(g, ctx)
				txs, _ := ldg.Transactions(ctx)
				g.Expect(txs).To(HaveLen(len(orders)), "ledger transactions")
				seen := map[string]bool{}
				for _, t := range txs {
					g.Expect(seen[t.OrderID]).To(BeFalse(), "booked twice: %s", t.OrderID)
					seen[t.OrderID] = true
				}
				credits := decimal.Zero
				bals, _ := ldg.Balances(ctx)
				for _, b := range bals {
					credits = credits.Add(b.Credits)
				}
				wallets := decimal.Zero
				wbals, _ := wal.Balances(ctx)
				for _, b := range wbals {
					wallets = wallets.Add(b.Amount)
				}
				g.Expect(credits.String()).To(Equal(total.String()), "Σ ledger credits")
				g.Expect(wallets.String()).To(Equal(total.String()), "Σ wallet balances")
				recs, err := kafkatest.ReadCommitted(ctx, brokers, kafkamsg.TopicApproved)
				g.Expect(err).NotTo(HaveOccurred())
				approved, ids := decimal.Zero, map[string]bool{}
				for _, r := range recs {
					a, err := kafkamsg.DecodeApproved(r.Value)
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(ids[a.OrderID]).To(BeFalse(), "approval published twice: %s", a.OrderID)
					ids[a.OrderID] = true
					approved = approved.Add(a.TotalAmount)
				}
				g.Expect(approved.String()).To(Equal(total.String()), "Σ approved")
			}).WithContext(ctx).WithTimeout(60 * time.Second).WithPolling(250 * time.Millisecond).Should(Succeed())
		})
	})
}
