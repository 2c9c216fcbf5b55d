package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/paystream/paystream/booking"
	"github.com/paystream/paystream/kafka"
	"github.com/paystream/paystream/kafkamsg"
	"github.com/paystream/paystream/kafkamsg/kafkatest"
	"github.com/paystream/paystream/ledger"
	"github.com/paystream/paystream/ledger/ledgertest"
	"github.com/paystream/paystream/ledger/postgres"
)

var _ = ledgertest.Describe("PostgreSQL store", func(ctx context.Context) ledger.Store {
	return must(postgres.Open(ctx, pool, postgres.WithSchema(freshSchema())))
})

var _ = Describe("PostgreSQL store", func() {
	var (
		schema string
		store  *postgres.Store
		l      *ledger.Ledger
	)
	BeforeEach(func(ctx SpecContext) {
		schema = freshSchema()
		store = must(postgres.Open(ctx, pool, postgres.WithSchema(schema)))
		l = ledger.New(store)
	})

	// reopen opens the schema again over a new pool, as a restarted process would.
	reopen := func(ctx context.Context) *postgres.Store {
		p := must(pgxpool.New(ctx, databaseURL))
		DeferCleanup(p.Close)
		return must(postgres.Open(ctx, p, postgres.WithSchema(schema)))
	}

	Context("when the process restarts", func() {
		It("keeps balances, transactions and the dedupe by message id", func(ctx SpecContext) {
			first := must(pgxpool.New(ctx, databaseURL))
			before := ledger.New(must(postgres.Open(ctx, first, postgres.WithSchema(schema))))
			Expect(before.Book(ctx, ledgertest.Approval("m1"))).To(BeTrue())
			Expect(before.Book(ctx, ledgertest.Approval("m2"))).To(BeTrue())
			_, err := before.Reverse(ctx, "m2", "refund")
			Expect(err).NotTo(HaveOccurred())
			balances := must(before.Balances(ctx))
			first.Close()

			after := ledger.New(reopen(ctx))
			Expect(after.Balances(ctx)).To(Equal(balances))
			Expect(must(after.Balance(ctx, ledger.AccountPSPReceivable)).Net().String()).To(Equal("3000.5"))
			Expect(after.Book(ctx, ledgertest.Approval("m1"))).To(BeFalse())
			_, err = after.Reverse(ctx, "m2", "again")
			Expect(err).To(MatchError(ledger.ErrAlreadyReversed))
			Expect(must(after.Transactions(ctx))).To(HaveLen(3))
		})

		It("applies no migration twice", func(ctx SpecContext) {
			reopen(ctx)
			var versions []int
			rows := must(pool.Query(ctx, "SELECT version FROM "+schema+".schema_migrations ORDER BY version"))
			for rows.Next() {
				var v int
				Expect(rows.Scan(&v)).To(Succeed())
				versions = append(versions, v)
			}
			Expect(rows.Err()).NotTo(HaveOccurred())
			Expect(versions).To(Equal([]int{1, 2}))
		})
	})

	Context("with 20 concurrent reversals of one transaction", func() {
		It("books the mirror once", func(ctx SpecContext) {
			Expect(l.Book(ctx, ledgertest.Approval("m1"))).To(BeTrue())
			var (
				wg                sync.WaitGroup
				mu                sync.Mutex
				reversed, refused int
				other             []error
			)
			for range 20 {
				wg.Go(func() {
					_, err := l.Reverse(ctx, "m1", "refund")
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						reversed++
					case errors.Is(err, ledger.ErrAlreadyReversed):
						refused++
					default:
						other = append(other, err)
					}
				})
			}
			wg.Wait()
			Expect(other).To(BeEmpty())
			Expect([]int{reversed, refused}).To(Equal([]int{1, 19}))
			Expect(must(l.Transactions(ctx))).To(HaveLen(2))
			for _, b := range must(l.Balances(ctx)) {
				Expect(b.Net().IsZero()).To(BeTrue(), b.Account)
			}
		})
	})

	Context("with 20 concurrent refunds of one order, each of a quarter of it", func() {
		It("takes back four of them and refuses the rest", func(ctx SpecContext) {
			Expect(l.Book(ctx, ledgertest.Approval("m1"))).To(BeTrue())
			var (
				wg              sync.WaitGroup
				mu              sync.Mutex
				booked, refused int
				other           []error
			)
			for i := range 20 {
				wg.Go(func() {
					_, err := l.BookRefund(ctx, ledgertest.Refund("m1", fmt.Sprintf("r%d", i), "250", 1, "250"))
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						booked++
					case errors.Is(err, ledger.ErrOverReversed):
						refused++
					default:
						other = append(other, err)
					}
				})
			}
			wg.Wait()
			Expect(other).To(BeEmpty())
			Expect([]int{booked, refused}).To(Equal([]int{4, 16}))
			Expect(must(l.Balance(ctx, ledger.SellerPayable("s1"))).Net().IsZero()).To(BeTrue())
		})
	})

	Context("written to with SQL, past the Go code", func() {
		It("refuses an unbalanced transaction at commit", func(ctx SpecContext) {
			tx := must(pool.Begin(ctx))
			defer tx.Rollback(ctx)
			_, err := tx.Exec(ctx, `INSERT INTO `+schema+`.transactions (id, kind, order_id, posted_at) VALUES ('x', 'booking', 'o', now());
				INSERT INTO `+schema+`.entries (transaction_id, line, account, side, amount) VALUES
					('x', 1, 'psp_receivable', 'debit', 100), ('x', 2, 'seller_payable:s1', 'credit', 99.99)`)
			Expect(err).NotTo(HaveOccurred())
			Expect(tx.Commit(ctx)).To(MatchError(ContainSubstring("unbalanced")))
			Expect(must(store.Transactions(ctx))).To(BeEmpty())
		})

		It("refuses a transaction without entries and a non-positive amount", func(ctx SpecContext) {
			_, err := pool.Exec(ctx, `INSERT INTO `+schema+`.transactions (id, kind, order_id, posted_at) VALUES ('x', 'booking', 'o', now())`)
			Expect(err).To(MatchError(ContainSubstring("unbalanced")))
			_, err = pool.Exec(ctx, `INSERT INTO `+schema+`.entries (transaction_id, line, account, side, amount) VALUES ('x', 1, 'a', 'debit', 0)`)
			Expect(err).To(HaveOccurred())
		})

		It("refuses to update, delete or truncate posted entries", func(ctx SpecContext) {
			Expect(l.Book(ctx, ledgertest.Approval("m1"))).To(BeTrue())
			for _, stmt := range []string{
				"UPDATE __S__.entries SET amount = amount * 2",
				"DELETE FROM __S__.entries",
				"TRUNCATE __S__.entries CASCADE",
				"UPDATE __S__.transactions SET order_id = 'other'",
				"DELETE FROM __S__.transactions",
			} {
				_, err := pool.Exec(ctx, strings.ReplaceAll(stmt, "__S__", schema))
				Expect(err).To(MatchError(ContainSubstring("immutable")), stmt)
			}
			Expect(must(l.Balance(ctx, ledger.AccountPSPReceivable)).Debits.String()).To(Equal("3000.5"))
		})
	})

	// The crash window between the two commits: the booking is committed in PostgreSQL, the
	// completion and the offsets are not yet committed in Kafka.
	Context("when the consumer dies after booking in PostgreSQL and before its Kafka transaction commits", func() {
		var (
			cluster   *kfake.Cluster
			brokers   []string
			approvals []kafkamsg.Approved
		)
		BeforeEach(func(ctx SpecContext) {
			cluster = must(kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, kafkamsg.TopicApproved)))
			DeferCleanup(cluster.Close)
			brokers = cluster.ListenAddrs()
			cl := must(kgo.NewClient(kgo.SeedBrokers(brokers...)))
			defer cl.Close()
			approvals = nil
			for i := range 10 {
				a := ledgertest.Approval(fmt.Sprintf("event-%d", i))
				approvals = append(approvals, a)
				Expect(cl.ProduceSync(ctx, &kgo.Record{Topic: kafkamsg.TopicApproved, Key: []byte(a.OrderID),
					Value: must(a.Marshal())}).FirstErr()).To(Succeed())
			}
		})

		It("redelivers the approvals, books nothing twice and publishes the same completions once", func(ctx SpecContext) {
			crashedAt := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			first := must(pgxpool.New(ctx, databaseURL))
			// The broker meets the first commit as it meets a consumer killed there and
			// restarted: the restart's producer aborts the open transaction.
			kafkatest.FenceCommit(cluster, "paystream-ledger", 1)
			dying := booking.New(kafka.Config{Brokers: brokers}, "ledger", kafkamsg.SchemaLedgerUpdated,
				ledger.New(must(postgres.Open(ctx, first, postgres.WithSchema(schema))), ledger.WithClock(func() time.Time { return crashedAt })),
				booking.WithMaxPollRecords(4))
			dyingCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			Expect(dying.Run(dyingCtx)).To(HaveOccurred())
			first.Close()

			bookedBeforeCrash := must(reopen(ctx).Transactions(ctx))
			Expect(bookedBeforeCrash).NotTo(BeEmpty())
			Expect(kafkatest.ReadCommitted(ctx, brokers, kafkamsg.TopicLedgerUpdated)).To(BeEmpty())
			uncommitted := readUncommitted(ctx, brokers, kafkamsg.TopicLedgerUpdated)
			Expect(uncommitted).To(HaveLen(len(bookedBeforeCrash)))

			restarted := ledger.New(reopen(ctx))
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() {
				done <- booking.New(kafka.Config{Brokers: brokers}, "ledger", kafkamsg.SchemaLedgerUpdated, restarted, booking.WithMaxPollRecords(4)).Run(runCtx)
			}()
			want := map[string]string{} // order id → the completion's message id
			for _, a := range approvals {
				want[a.OrderID] = kafkamsg.NewCompletion(kafkamsg.SchemaLedgerUpdated, a).MessageID
			}
			Eventually(func(g Gomega) {
				recs, err := kafkatest.ReadCommitted(ctx, brokers, kafkamsg.TopicLedgerUpdated)
				g.Expect(err).NotTo(HaveOccurred())
				got := map[string]string{}
				for _, r := range recs {
					c, err := kafkamsg.DecodeCompletion(r.Value)
					g.Expect(err).NotTo(HaveOccurred())
					g.Expect(got).NotTo(HaveKey(c.OrderID), "completion of %s published twice", c.OrderID)
					got[c.OrderID] = c.MessageID
				}
				g.Expect(got).To(Equal(want))
			}).WithContext(ctx).WithTimeout(20 * time.Second).Should(Succeed())
			stop()
			Eventually(done).WithContext(ctx).WithTimeout(20 * time.Second).Should(Receive(Not(HaveOccurred())))

			// The completions of the crashed transaction carried the very message ids that were
			// committed later, which the payment service already deduplicates.
			for _, r := range uncommitted {
				c := must(kafkamsg.DecodeCompletion(r.Value))
				Expect(c.MessageID).To(Equal(want[c.OrderID]))
			}
			txs := must(restarted.Transactions(ctx))
			Expect(txs).To(HaveLen(len(approvals)))
			Expect(txs[:len(bookedBeforeCrash)]).To(Equal(bookedBeforeCrash)) // still the crashed process's postings
			for _, t := range txs[len(bookedBeforeCrash):] {
				Expect(t.PostedAt).NotTo(Equal(crashedAt))
			}
			total := decimal.Zero
			for _, a := range approvals {
				total = total.Add(a.TotalAmount)
			}
			Expect(must(restarted.Balance(ctx, ledger.AccountPSPReceivable)).Debits.Equal(total)).To(BeTrue())
		})
	})
})

// readUncommitted returns every record of topic, including those of open and aborted
// transactions.
func readUncommitted(ctx context.Context, brokers []string, topic string) []*kgo.Record {
	GinkgoHelper()
	cl := must(kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.FetchIsolationLevel(kgo.ReadUncommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.KeepControlRecords()))
	defer cl.Close()
	ends := must(kadm.NewClient(cl).ListEndOffsets(ctx, topic))
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	var out []*kgo.Record
	for len(want) > 0 {
		fetches := cl.PollFetches(ctx)
		Expect(ctx.Err()).NotTo(HaveOccurred())
		Expect(fetches.Err()).NotTo(HaveOccurred())
		fetches.EachRecord(func(r *kgo.Record) {
			if end, ok := want[r.Partition]; ok && r.Offset < end {
				if !r.Attrs.IsControl() {
					out = append(out, r)
				}
				if r.Offset >= end-1 {
					delete(want, r.Partition)
				}
			}
		})
	}
	return out
}
