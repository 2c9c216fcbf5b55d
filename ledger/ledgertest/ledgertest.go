package ledgertest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/kafkamsg"
	"github.com/paystream/paystream/ledger"
	"github.com/paystream/paystream/reconcile"
)

// postedAt is the clock of every spec: microsecond precision, what PostgreSQL keeps.
var postedAt = time.Date(2026, 3, 1, 9, 30, 0, 123456000, time.UTC)

// Approval is a well-formed approval with message id id: two orders, sellers s1 (1000) and
// s2 (2000.50).
func Approval(id string) kafkamsg.Approved {
	return kafkamsg.Approved{Schema: kafkamsg.SchemaApproved, OrderID: "order-" + id, SourceEventID: id,
		TotalAmount: decimal.RequireFromString("3000.50"), Orders: []kafkamsg.ApprovedOrder{
			{Seq: 1, SellerID: "s1", Amount: decimal.NewFromInt(1000)},
			{Seq: 2, SellerID: "s2", Amount: decimal.RequireFromString("2000.50")},
		}}
}

// Refund is a refund message for Approval(approval) with message id id: amount split over
// orders as {seq, amount} pairs (the sellers are Approval's); no pairs: unallocated.
func Refund(approval, id string, amount string, orders ...any) kafkamsg.Refunded {
	r := kafkamsg.Refunded{Schema: kafkamsg.SchemaRefunded, OrderID: "order-" + approval, RefundID: "refund-" + id,
		Amount: decimal.RequireFromString(amount), ApprovalID: approval, SourceEventID: id}
	sellers := map[int]string{1: "s1", 2: "s2", 3: "s3"}
	for i := 0; i+1 < len(orders); i += 2 {
		seq := orders[i].(int)
		r.Orders = append(r.Orders, kafkamsg.RefundedOrder{Seq: seq, SellerID: sellers[seq], Amount: decimal.RequireFromString(orders[i+1].(string))})
	}
	return r
}

// Withdrawal is the withdrawal of Approval(approval)'s deposit with message id id: both
// orders, whole.
func Withdrawal(approval, id string) kafkamsg.Withdrawn {
	a := Approval(approval)
	w := kafkamsg.Withdrawn{Schema: kafkamsg.SchemaDepositWithdrawn, OrderID: a.OrderID, WithdrawalID: "withdrawal-" + id,
		Amount: a.TotalAmount, ApprovalID: approval, SourceEventID: id}
	for _, o := range a.Orders {
		w.Orders = append(w.Orders, kafkamsg.RefundedOrder{Seq: o.Seq, SellerID: o.SellerID, Amount: o.Amount})
	}
	return w
}

// Describe registers the conformance specs for the stores open returns.
func Describe(name string, open func(ctx context.Context) ledger.Store) bool {
	return ginkgo.Describe("ledger.Store conformance: "+name, func() {
		var (
			store ledger.Store
			l     *ledger.Ledger
		)
		ginkgo.BeforeEach(func(ctx ginkgo.SpecContext) {
			store = open(ctx)
			l = ledger.New(store, ledger.WithClock(func() time.Time { return postedAt }))
		})

		ginkgo.Context("booking an approval", func() {
			ginkgo.It("debits the PSP receivable and credits each seller, balanced", func(ctx ginkgo.SpecContext) {
				booked, err := l.Book(ctx, Approval("m1"))
				Expect(err).NotTo(HaveOccurred())
				Expect(booked).To(BeTrue())
				rec := must(l.Balance(ctx, ledger.AccountPSPReceivable))
				Expect(rec.Debits.String()).To(Equal("3000.5"))
				Expect(rec.Credits.IsZero()).To(BeTrue())
				s2 := must(l.Balance(ctx, ledger.SellerPayable("s2")))
				Expect(s2.Credits.String()).To(Equal("2000.5"))
				Expect(s2.Net().String()).To(Equal("-2000.5"))
				Expect(must(l.Balances(ctx))).To(HaveLen(3))

				txs := must(l.Transactions(ctx))
				Expect(txs).To(HaveLen(1))
				Expect(txs[0].Balanced()).To(BeTrue())
				Expect(txs[0]).To(Equal(must(store.Transaction(ctx, "m1"))))
				Expect(txs[0].ID).To(Equal("m1"))
				Expect(txs[0].Kind).To(Equal(ledger.KindBooking))
				Expect(txs[0].OrderID).To(Equal("order-m1"))
				Expect(txs[0].PostedAt).To(Equal(postedAt))
				Expect(txs[0].Entries).To(HaveLen(4))
				e := txs[0].Entries[3]
				Expect([]any{e.Account, e.Side, e.Amount.String(), e.OrderSeq}).To(
					Equal([]any{ledger.SellerPayable("s2"), ledger.Credit, "2000.5", 2}))
			})

			ginkgo.It("books a redelivered approval once", func(ctx ginkgo.SpecContext) {
				Expect(l.Book(ctx, Approval("m1"))).To(BeTrue())
				booked, err := l.Book(ctx, Approval("m1"))
				Expect(err).NotTo(HaveOccurred())
				Expect(booked).To(BeFalse())
				Expect(must(l.Transactions(ctx))).To(HaveLen(1))
				Expect(must(l.Balance(ctx, ledger.AccountPSPReceivable)).Debits.String()).To(Equal("3000.5"))
			})

			ginkgo.It("books an approval delivered 20 times at once exactly once", func(ctx ginkgo.SpecContext) {
				var (
					wg     sync.WaitGroup
					mu     sync.Mutex
					booked int
					errs   []error
				)
				for range 20 {
					wg.Go(func() {
						ok, err := l.Book(ctx, Approval("m1"))
						mu.Lock()
						defer mu.Unlock()
						if err != nil {
							errs = append(errs, err)
						}
						if ok {
							booked++
						}
					})
				}
				wg.Wait()
				Expect(errs).To(BeEmpty())
				Expect(booked).To(Equal(1))
				Expect(must(l.Transactions(ctx))).To(HaveLen(1))
				Expect(must(l.Balance(ctx, ledger.AccountPSPReceivable)).Debits.String()).To(Equal("3000.5"))
			})

			ginkgo.It("keeps transactions in posting order", func(ctx ginkgo.SpecContext) {
				for i := range 5 {
					Expect(l.Book(ctx, Approval(fmt.Sprintf("m%d", i)))).To(BeTrue())
				}
				var ids []string
				for _, t := range must(l.Transactions(ctx)) {
					ids = append(ids, t.ID)
				}
				Expect(ids).To(Equal([]string{"m0", "m1", "m2", "m3", "m4"}))
				Expect(must(l.Balance(ctx, ledger.AccountPSPReceivable)).Debits.String()).To(Equal("15002.5"))
			})

			ginkgo.It("refuses an approval whose orders do not add up", func(ctx ginkgo.SpecContext) {
				a := Approval("m1")
				a.TotalAmount = decimal.NewFromInt(1)
				_, err := l.Book(ctx, a)
				Expect(err).To(MatchError(kafkamsg.ErrMalformed))
				Expect(must(l.Transactions(ctx))).To(BeEmpty())
			})
		})

		ginkgo.Context("correcting", func() {
			ginkgo.It("reverses with a mirror transaction, once, leaving the original untouched", func(ctx ginkgo.SpecContext) {
				Expect(l.Book(ctx, Approval("m1"))).To(BeTrue())
				rev, err := l.Reverse(ctx, "m1", "duplicate capture")
				Expect(err).NotTo(HaveOccurred())
				Expect(rev.ID).To(Equal(ledger.ReversalID("m1")))
				Expect(rev.Reverses).To(Equal("m1"))
				Expect(rev.Balanced()).To(BeTrue())
				Expect(must(store.Transaction(ctx, rev.ID))).To(Equal(rev))
				for _, b := range must(l.Balances(ctx)) {
					Expect(b.Net().IsZero()).To(BeTrue(), b.Account)
				}
				txs := must(l.Transactions(ctx))
				Expect(txs).To(HaveLen(2))
				Expect(txs[0].Entries[0].Side).To(Equal(ledger.Debit))
				Expect(txs[1].Entries[0].Side).To(Equal(ledger.Credit))

				_, err = l.Reverse(ctx, "m1", "again")
				Expect(err).To(MatchError(ledger.ErrAlreadyReversed))
				_, err = l.Reverse(ctx, rev.ID, "reverse the reversal")
				Expect(err).To(MatchError(ledger.ErrAlreadyReversed))
				_, err = l.Reverse(ctx, "nope", "x")
				Expect(err).To(MatchError(ledger.ErrNotFound))
				Expect(must(l.Transactions(ctx))).To(HaveLen(2))
			})

			ginkgo.It("reverses a transaction at most once, whatever the reversal's id", func(ctx ginkgo.SpecContext) {
				Expect(l.Book(ctx, Approval("m1"))).To(BeTrue())
				orig := must(store.Transaction(ctx, "m1"))
				mirror := func(id string) ledger.Transaction {
					t := ledger.Transaction{ID: id, Kind: ledger.KindReversal, OrderID: orig.OrderID, Reverses: "m1",
						Reason: "ops", PostedAt: postedAt}
					for _, e := range orig.Entries {
						e.Side = map[ledger.Side]ledger.Side{ledger.Debit: ledger.Credit, ledger.Credit: ledger.Debit}[e.Side]
						t.Entries = append(t.Entries, e)
					}
					return t
				}
				Expect(store.Post(ctx, mirror("r1"))).To(BeTrue())
				_, err := store.Post(ctx, mirror("r2"))
				Expect(err).To(MatchError(ledger.ErrAlreadyReversed))
				missing := mirror("r3")
				missing.Reverses = "nope"
				_, err = store.Post(ctx, missing)
				Expect(err).To(MatchError(ledger.ErrNotFound))
				Expect(must(l.Transactions(ctx))).To(HaveLen(2))
			})

			ginkgo.It("never posts an unbalanced transaction", func(ctx ginkgo.SpecContext) {
				_, err := store.Post(ctx, ledger.Transaction{ID: "x", Kind: ledger.KindBooking, PostedAt: postedAt,
					Entries: []ledger.Entry{{Account: "a", Side: ledger.Debit, Amount: decimal.NewFromInt(1)}}})
				Expect(err).To(MatchError(ledger.ErrUnbalanced))
				_, err = store.Post(ctx, ledger.Transaction{ID: "y", Kind: ledger.KindBooking, PostedAt: postedAt,
					Entries: []ledger.Entry{
						{Account: "a", Side: ledger.Debit, Amount: decimal.NewFromInt(-1)},
						{Account: "b", Side: ledger.Credit, Amount: decimal.NewFromInt(-1)}}})
				Expect(err).To(MatchError(ledger.ErrUnbalanced))
				Expect(must(store.Transactions(ctx))).To(BeEmpty())
				Expect(must(store.Balances(ctx))).To(BeEmpty())
			})
		})

		ginkgo.Context("refunds", func() {
			net := func(ctx context.Context, account string) string {
				return must(l.Balance(ctx, account)).Net().String()
			}
			ginkgo.BeforeEach(func(ctx ginkgo.SpecContext) { Expect(l.Book(ctx, Approval("m1"))).To(BeTrue()) })

			ginkgo.It("takes a refund back from the sellers of its orders, once, linked to the booking", func(ctx ginkgo.SpecContext) {
				r := Refund("m1", "r1", "1500", 1, "500", 2, "1000")
				Expect(l.BookRefund(ctx, r)).To(BeTrue())
				Expect(l.BookRefund(ctx, r)).To(BeFalse(), "a redelivery")
				Expect(net(ctx, ledger.SellerPayable("s1"))).To(Equal("-500"))
				Expect(net(ctx, ledger.SellerPayable("s2"))).To(Equal("-1000.5"))
				Expect(net(ctx, ledger.AccountPSPReceivable)).To(Equal("1500.5"))
				t := must(store.Transaction(ctx, "r1"))
				Expect([]any{t.Kind, t.Of, t.OrderID, t.Balanced(), len(t.Entries)}).To(Equal([]any{ledger.KindRefund, "m1", "order-m1", true, 4}))
				Expect(must(store.TakenBack(ctx, "m1"))).To(HaveLen(2))
				Expect(must(store.TakenBack(ctx, "m1"))[1].String()).To(Equal("500"))

				_, err := l.BookRefund(ctx, Refund("m1", "r2", "600", 1, "600"))
				Expect(err).To(MatchError(ledger.ErrOverReversed), "order 1 has 500 left")
				Expect(must(l.Transactions(ctx))).To(HaveLen(2))
				Expect(l.BookRefund(ctx, Refund("m1", "r3", "500", 1, "500"))).To(BeTrue(), "exactly what is left")
				Expect(net(ctx, ledger.SellerPayable("s1"))).To(Equal("0"))
			})

			ginkgo.It("books an unallocated refund to refunds_unallocated, and its allocation moves it to the sellers", func(ctx ginkgo.SpecContext) {
				Expect(l.BookRefund(ctx, Refund("m1", "r1", "1000"))).To(BeTrue())
				Expect(net(ctx, ledger.AccountRefundsUnallocated)).To(Equal("1000"))
				Expect(net(ctx, ledger.AccountPSPReceivable)).To(Equal("2000.5"))
				Expect(net(ctx, ledger.SellerPayable("s2"))).To(Equal("-2000.5"), "no seller touched yet")

				a := Refund("m1", "a1", "1000", 2, "1000")
				a.Schema, a.RefundID = kafkamsg.SchemaRefundAllocated, "refund-r1"
				Expect(l.BookRefund(ctx, a)).To(BeTrue())
				Expect(l.BookRefund(ctx, a)).To(BeFalse())
				Expect(net(ctx, ledger.AccountRefundsUnallocated)).To(Equal("0"))
				Expect(net(ctx, ledger.SellerPayable("s2"))).To(Equal("-1000.5"))
				Expect(must(store.Transaction(ctx, "a1")).Kind).To(Equal(ledger.KindRefundAllocation))
				for _, t := range must(l.Transactions(ctx)) {
					Expect(t.Balanced()).To(BeTrue(), t.ID)
				}
			})

			ginkgo.It("takes back everything left of a booking (the reversal a deposit error will book)", func(ctx ginkgo.SpecContext) {
				Expect(l.BookRefund(ctx, Refund("m1", "r1", "500", 1, "500"))).To(BeTrue())
				t, posted, err := l.TakeBack(ctx, ledger.Reversal{ID: "deposit-error:m1", Kind: ledger.KindReversal, Booking: "m1", Reason: "deposit error"})
				Expect(err).NotTo(HaveOccurred())
				Expect(posted).To(BeTrue())
				Expect(t.Of).To(Equal("m1"))
				for _, b := range must(l.Balances(ctx)) {
					Expect(b.Net().IsZero()).To(BeTrue(), b.Account)
				}
				_, posted, err = l.TakeBack(ctx, ledger.Reversal{ID: "deposit-error:m1", Kind: ledger.KindReversal, Booking: "m1"})
				Expect(err).NotTo(HaveOccurred())
				Expect(posted).To(BeFalse())
			})

			ginkgo.It("takes a withdrawn deposit back whole from the sellers, once, and books the next deposit's approval afresh", func(ctx ginkgo.SpecContext) {
				w := Withdrawal("m1", "w1")
				Expect(l.BookWithdrawal(ctx, w)).To(BeTrue())
				Expect(l.BookWithdrawal(ctx, w)).To(BeFalse(), "a redelivery")
				for _, b := range must(l.Balances(ctx)) {
					Expect(b.Net().IsZero()).To(BeTrue(), b.Account)
				}
				t := must(store.Transaction(ctx, "w1"))
				Expect([]any{t.Kind, t.Of, t.OrderID, t.Balanced(), len(t.Entries)}).To(Equal([]any{ledger.KindDepositWithdrawn, "m1", "order-m1", true, 4}))

				again := Approval("m2")
				again.OrderID = "order-m1"
				Expect(l.Book(ctx, again)).To(BeTrue())
				Expect(net(ctx, ledger.SellerPayable("s2"))).To(Equal("-2000.5"))
				_, err := l.BookWithdrawal(ctx, Withdrawal("m1", "w1-again"))
				Expect(err).To(MatchError(kafkamsg.ErrMalformed), "nothing is left of the withdrawn booking")
				_, err = l.BookWithdrawal(ctx, Withdrawal("nope", "w2"))
				Expect(err).To(MatchError(kafkamsg.ErrMalformed), "a booking the ledger does not have")
			})

			ginkgo.It("refuses, as malformed, a refund of a booking or an order the ledger does not have", func(ctx ginkgo.SpecContext) {
				_, err := l.BookRefund(ctx, Refund("nope", "r1", "500", 1, "500"))
				Expect(err).To(MatchError(kafkamsg.ErrMalformed))
				_, err = l.BookRefund(ctx, Refund("m1", "r2", "500", 3, "500"))
				Expect(err).To(MatchError(kafkamsg.ErrMalformed))
				Expect(must(l.Transactions(ctx))).To(HaveLen(1))
			})
		})

		ginkgo.Context("booking settlements", func() {
			// postedAt is 18:30 KST on 2026-03-01: a row paid out that day is due, one paid
			// out the next is not yet.
			row := func(key, amount, fee, vat, payOut, paidOut string) reconcile.SettlementRecorded {
				return reconcile.SettlementRecorded{OrderID: "order-m1", TransactionKey: key, Amount: decimal.RequireFromString(amount),
					Fee: decimal.RequireFromString(fee), VAT: decimal.RequireFromString(vat), PayOut: decimal.RequireFromString(payOut),
					PaidOutDate: paidOut, Cancel: amount[0] == '-'}
			}
			net := func(ctx context.Context, account string) string {
				ginkgo.GinkgoHelper()
				return must(l.Balance(ctx, account)).Net().String()
			}

			ginkgo.It("books fees against the receivable, the payout once due, each once per transaction key", func(ctx ginkgo.SpecContext) {
				Expect(l.Book(ctx, Approval("m1"))).To(BeTrue())
				Expect(l.BookRefund(ctx, Refund("m1", "r1", "1000", 1, "1000"))).To(BeTrue())
				rows := []reconcile.SettlementRecorded{
					row("tx-approve", "3000.5", "96", "9.6", "2894.9", "2026-03-01"),
					row("tx-cancel", "-1000", "-32", "-3.2", "-964.8", "2026-03-02"),
				}
				Expect(l.BookSettlements(ctx, "run-1", rows)).To(Succeed())
				Expect(l.BookSettlements(ctx, "run-2", rows)).To(Succeed(), "a re-run")
				Expect(net(ctx, ledger.AccountPSPFees)).To(Equal("70.4"))         // 105.6 − 35.2
				Expect(net(ctx, ledger.AccountCash)).To(Equal("2894.9"))          // the cancel's deduction is not due yet
				Expect(net(ctx, ledger.AccountPSPReceivable)).To(Equal("-964.8")) // what the cancel will deduct
				ids := []string{}
				for _, t := range must(l.Transactions(ctx)) {
					Expect(t.Balanced()).To(BeTrue())
					ids = append(ids, t.ID)
				}
				Expect(ids).To(Equal([]string{"m1", "r1", ledger.SettlementFeeID("tx-approve"), ledger.PayoutID("tx-approve"),
					ledger.SettlementFeeID("tx-cancel")}))
				fee := must(store.Transaction(ctx, ledger.SettlementFeeID("tx-cancel")))
				Expect(fee.Kind).To(Equal(ledger.KindSettlementFee))
				Expect([]any{fee.Entries[0].Account, fee.Entries[0].Side, fee.Entries[0].Amount.String()}).To(
					Equal([]any{ledger.AccountPSPReceivable, ledger.Debit, "35.2"}), "a cancel's fees come back")

				later := ledger.New(store, ledger.WithClock(func() time.Time { return postedAt.Add(24 * time.Hour) }))
				Expect(later.BookSettlements(ctx, "run-3", rows)).To(Succeed())
				Expect(later.BookSettlements(ctx, "run-4", rows)).To(Succeed())
				Expect(must(l.Transactions(ctx))).To(HaveLen(6))
				Expect(net(ctx, ledger.AccountPSPReceivable)).To(Equal("0"), "paid out in full")
				Expect(net(ctx, ledger.AccountCash)).To(Equal("1930.1"))
				// Sellers' balances tie out to fees + receivable + cash: approvals net of refunds.
				sellers := must(l.Balance(ctx, ledger.SellerPayable("s1"))).Net().Add(must(l.Balance(ctx, ledger.SellerPayable("s2"))).Net())
				Expect(sellers.Neg().String()).To(Equal("2000.5"))
				books := decimal.Zero
				for _, a := range []string{ledger.AccountPSPFees, ledger.AccountPSPReceivable, ledger.AccountCash} {
					books = books.Add(must(l.Balance(ctx, a)).Net())
				}
				Expect(books.String()).To(Equal("2000.5"))
			})

			ginkgo.It("refuses a row without a transaction key or with a malformed payout date", func(ctx ginkgo.SpecContext) {
				Expect(l.BookSettlements(ctx, "run-1", []reconcile.SettlementRecorded{row("", "1", "0", "0", "1", "")})).NotTo(Succeed())
				Expect(l.BookSettlements(ctx, "run-1", []reconcile.SettlementRecorded{row("k", "1", "0", "0", "1", "01/03/2026")})).NotTo(Succeed())
			})
		})

		ginkgo.Context("looking up", func() {
			ginkgo.It("reports a missing transaction as not found", func(ctx ginkgo.SpecContext) {
				_, err := store.Transaction(ctx, "nope")
				Expect(err).To(MatchError(ledger.ErrNotFound))
			})
		})
	})
}

// must fails the spec on err and returns v.
func must[T any](v T, err error) T {
	ginkgo.GinkgoHelper()
	Expect(err).NotTo(HaveOccurred())
	return v
}
