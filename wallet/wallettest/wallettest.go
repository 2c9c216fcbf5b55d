package wallettest

import (
	"context"
	"fmt"
	"sync"

	"github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/kafkamsg"
	"github.com/paystream/paystream/wallet"
)

// Approval is a well-formed approval with message id id: seller s1 gets 1000 and 2500.25,
// seller s2 gets 300.
func Approval(id string) kafkamsg.Approved {
	return kafkamsg.Approved{Schema: kafkamsg.SchemaApproved, OrderID: "order-" + id, SourceEventID: id,
		TotalAmount: decimal.RequireFromString("3800.25"), Orders: []kafkamsg.ApprovedOrder{
			{Seq: 1, SellerID: "s1", Amount: decimal.NewFromInt(1000)},
			{Seq: 2, SellerID: "s2", Amount: decimal.NewFromInt(300)},
			{Seq: 3, SellerID: "s1", Amount: decimal.RequireFromString("2500.25")},
		}}
}

// Describe registers the conformance specs for the stores open returns.
func Describe(name string, open func(ctx context.Context) wallet.Store) bool {
	return ginkgo.Describe("wallet.Store conformance: "+name, func() {
		var w *wallet.Wallet
		ginkgo.BeforeEach(func(ctx ginkgo.SpecContext) { w = wallet.New(open(ctx)) })

		ginkgo.Context("refunds", func() {
			refund := func(id string, orders ...kafkamsg.RefundedOrder) kafkamsg.Refunded {
				r := kafkamsg.Refunded{Schema: kafkamsg.SchemaRefunded, OrderID: "order-m1", RefundID: "refund-" + id,
					ApprovalID: "m1", SourceEventID: id, Orders: orders, Amount: decimal.Zero}
				for _, o := range orders {
					r.Amount = r.Amount.Add(o.Amount)
				}
				return r
			}
			ginkgo.It("debits the sellers of the refunded orders once per message id", func(ctx ginkgo.SpecContext) {
				Expect(w.Book(ctx, Approval("m1"))).To(BeTrue())
				r := refund("r1", kafkamsg.RefundedOrder{Seq: 3, SellerID: "s1", Amount: decimal.RequireFromString("500.25")},
					kafkamsg.RefundedOrder{Seq: 2, SellerID: "s2", Amount: decimal.NewFromInt(300)})
				Expect(w.BookRefund(ctx, r)).To(BeTrue())
				Expect(w.BookRefund(ctx, r)).To(BeFalse())
				Expect(must(w.Balance(ctx, "s1")).String()).To(Equal("3000"))
				Expect(must(w.Balance(ctx, "s2")).IsZero()).To(BeTrue())
			})

			ginkgo.It("debits no one for an unallocated refund, and the sellers on its allocation", func(ctx ginkgo.SpecContext) {
				Expect(w.Book(ctx, Approval("m1"))).To(BeTrue())
				r := refund("r1")
				r.Amount = decimal.NewFromInt(1000)
				Expect(w.BookRefund(ctx, r)).To(BeFalse())
				Expect(must(w.Balance(ctx, "s1")).String()).To(Equal("3500.25"))
				a := refund("a1", kafkamsg.RefundedOrder{Seq: 1, SellerID: "s1", Amount: decimal.NewFromInt(1000)})
				a.Schema = kafkamsg.SchemaRefundAllocated
				Expect(w.BookRefund(ctx, a)).To(BeTrue())
				Expect(must(w.Balance(ctx, "s1")).String()).To(Equal("2500.25"))
			})
		})

		ginkgo.Context("withdrawn deposits", func() {
			ginkgo.It("debits every seller what the withdrawn approval credited, once per message id", func(ctx ginkgo.SpecContext) {
				a := Approval("m1")
				Expect(w.Book(ctx, a)).To(BeTrue())
				wd := kafkamsg.Withdrawn{Schema: kafkamsg.SchemaDepositWithdrawn, OrderID: a.OrderID, WithdrawalID: "order-m1-w1",
					Amount: a.TotalAmount, ApprovalID: "m1", SourceEventID: "w1"}
				for _, o := range a.Orders {
					wd.Orders = append(wd.Orders, kafkamsg.RefundedOrder{Seq: o.Seq, SellerID: o.SellerID, Amount: o.Amount})
				}
				Expect(w.BookWithdrawal(ctx, wd)).To(BeTrue())
				Expect(w.BookWithdrawal(ctx, wd)).To(BeFalse(), "a redelivery")
				Expect(must(w.Balance(ctx, "s1")).IsZero()).To(BeTrue())
				Expect(must(w.Balance(ctx, "s2")).IsZero()).To(BeTrue())
				wd.Amount = decimal.NewFromInt(1)
				_, err := w.BookWithdrawal(ctx, wd)
				Expect(err).To(MatchError(kafkamsg.ErrMalformed))
			})
		})

		ginkgo.Context("booking approvals", func() {
			ginkgo.It("credits each seller once per message id", func(ctx ginkgo.SpecContext) {
				booked, err := w.Book(ctx, Approval("m1"))
				Expect(err).NotTo(HaveOccurred())
				Expect(booked).To(BeTrue())
				booked, err = w.Book(ctx, Approval("m1"))
				Expect(err).NotTo(HaveOccurred())
				Expect(booked).To(BeFalse())
				Expect(must(w.Balance(ctx, "s1")).String()).To(Equal("3500.25"))
				Expect(must(w.Balance(ctx, "s2")).String()).To(Equal("300"))
				Expect(must(w.Balance(ctx, "nobody")).IsZero()).To(BeTrue())
				Expect(w.Applied(ctx)).To(Equal(1))
			})

			ginkgo.It("adds up the approvals of many messages, sorted by seller", func(ctx ginkgo.SpecContext) {
				for i := range 4 {
					Expect(w.Book(ctx, Approval(fmt.Sprintf("m%d", i)))).To(BeTrue())
				}
				var got []string
				for _, b := range must(w.Balances(ctx)) {
					got = append(got, b.SellerID+"="+b.Amount.String())
				}
				Expect(got).To(Equal([]string{"s1=14001", "s2=1200"}))
				Expect(w.Applied(ctx)).To(Equal(4))
			})

			ginkgo.It("applies an approval delivered 20 times at once exactly once", func(ctx ginkgo.SpecContext) {
				var (
					wg     sync.WaitGroup
					mu     sync.Mutex
					booked int
					errs   []error
				)
				for range 20 {
					wg.Go(func() {
						ok, err := w.Book(ctx, Approval("m1"))
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
				Expect(must(w.Balance(ctx, "s1")).String()).To(Equal("3500.25"))
				Expect(w.Applied(ctx)).To(Equal(1))
			})

			ginkgo.It("refuses a malformed approval and changes nothing", func(ctx ginkgo.SpecContext) {
				_, err := w.Book(ctx, kafkamsg.Approved{Schema: kafkamsg.SchemaApproved, OrderID: "o"})
				Expect(err).To(MatchError(kafkamsg.ErrMalformed))
				Expect(w.Applied(ctx)).To(Equal(0))
				Expect(must(w.Balances(ctx))).To(BeEmpty())
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
