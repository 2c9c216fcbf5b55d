package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/kafkamsg"
	"github.com/paystream/paystream/wallet"
	"github.com/paystream/paystream/wallet/postgres"
	"github.com/paystream/paystream/wallet/wallettest"
)

var _ = wallettest.Describe("PostgreSQL store", func(ctx context.Context) wallet.Store {
	return must(postgres.Open(ctx, pool, postgres.WithSchema(freshSchema())))
})

var _ = Describe("PostgreSQL store", func() {
	var (
		schema string
		w      *wallet.Wallet
	)
	BeforeEach(func(ctx SpecContext) {
		schema = freshSchema()
		w = wallet.New(must(postgres.Open(ctx, pool, postgres.WithSchema(schema))))
	})

	Context("when the process restarts", func() {
		It("keeps balances and the dedupe by message id", func(ctx SpecContext) {
			first := must(pgxpool.New(ctx, databaseURL))
			before := wallet.New(must(postgres.Open(ctx, first, postgres.WithSchema(schema))))
			Expect(before.Book(ctx, wallettest.Approval("m1"))).To(BeTrue())
			Expect(before.Book(ctx, wallettest.Approval("m2"))).To(BeTrue())
			balances := must(before.Balances(ctx))
			first.Close()

			second := must(pgxpool.New(ctx, databaseURL))
			DeferCleanup(second.Close)
			after := wallet.New(must(postgres.Open(ctx, second, postgres.WithSchema(schema))))
			Expect(after.Balances(ctx)).To(Equal(balances))
			Expect(must(after.Balance(ctx, "s1")).String()).To(Equal("7000.5"))
			Expect(after.Book(ctx, wallettest.Approval("m1"))).To(BeFalse())
			Expect(after.Applied(ctx)).To(Equal(2))
		})
	})

	Context("with concurrent approvals crediting the same sellers in opposite orders", func() {
		It("applies every one without a deadlock, and the balances add up", func(ctx SpecContext) {
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				errs []error
			)
			for i := range 20 {
				wg.Go(func() {
					a := kafkamsg.Approved{Schema: kafkamsg.SchemaApproved, OrderID: fmt.Sprintf("o%d", i),
						SourceEventID: fmt.Sprintf("m%d", i), TotalAmount: decimal.NewFromInt(30), Orders: []kafkamsg.ApprovedOrder{
							{Seq: 1, SellerID: "a", Amount: decimal.NewFromInt(10)},
							{Seq: 2, SellerID: "b", Amount: decimal.NewFromInt(20)}}}
					if i%2 == 1 {
						a.Orders[0].SellerID, a.Orders[1].SellerID = "b", "a"
					}
					if _, err := w.Book(ctx, a); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			Expect(errs).To(BeEmpty())
			Expect(must(w.Balance(ctx, "a")).Add(must(w.Balance(ctx, "b"))).String()).To(Equal("600"))
			Expect(w.Applied(ctx)).To(Equal(20))
		})
	})

	Context("written to with SQL, past the Go code", func() {
		It("refuses to update, delete or truncate the journal", func(ctx SpecContext) {
			Expect(w.Book(ctx, wallettest.Approval("m1"))).To(BeTrue())
			for _, stmt := range []string{
				"UPDATE __S__.credits SET amount = amount * 2",
				"DELETE FROM __S__.credits",
				"TRUNCATE __S__.credits CASCADE",
				"DELETE FROM __S__.applied_messages",
			} {
				_, err := pool.Exec(ctx, strings.ReplaceAll(stmt, "__S__", schema))
				Expect(err).To(MatchError(ContainSubstring("immutable")), stmt)
			}
			Expect(w.Applied(ctx)).To(Equal(1))
		})
	})
})
