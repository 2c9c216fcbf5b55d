package books_test

import (
	"context"
	"errors"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/books"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/embedded"
	"github.com/paystream/paystream/eventstore/storetest"
)

var _ = Describe("Tally", func() {
	var (
		store *embedded.Store
		p     *payments
	)
	BeforeEach(func() {
		store = embedded.OpenMemory()
		DeferCleanup(store.Close)
		p = newPayments(store, 3, 7, 2)
	})

	// run follows the store into t until it has read everything written so far.
	run := func(ctx context.Context, t *books.Tally) {
		GinkgoHelper()
		Expect(t.Run(ctx, storetest.UpTo{Store: store, Last: p.last})).To(MatchError(storetest.ErrCaughtUp))
	}

	It("totals what folding every payment whole totals: approvals, refunds allocated or not, withdrawals", func(ctx SpecContext) {
		Expect(mixedPayments(ctx, p)).To(Succeed())
		t := books.NewTally()
		run(ctx, t)
		want := fullFold(ctx, store, p)
		Expect(printed(must(t.Totals(ctx)))).To(Equal(printed(want)))
		// The mix covers every figure, so that a figure left out would show.
		Expect(want.Approved).To(HaveLen(5))
		Expect(want.Refunded).To(HaveKey("s2"))
		Expect(want.Refunded).NotTo(HaveKey("s5"))
		Expect(want.Withdrawn).To(HaveKeyWithValue("s1", decimal.NewFromInt(1000)))
		Expect(want.Unallocated.String()).To(Equal("300"))
		Expect(t.Refolds()).To(BeZero(), "every payment's state was at hand")
	})

	It("with room for one payment's state, reads the others back up to the event, and totals the same", func(ctx SpecContext) {
		Expect(mixedPayments(ctx, p)).To(Succeed())
		Expect(p.write(ctx, 40)).To(Succeed())
		t := books.NewTally(books.WithRecent(1))
		run(ctx, t)
		Expect(printed(must(t.Totals(ctx)))).To(Equal(printed(fullFold(ctx, store, p))))
		Expect(t.Refolds()).To(BeNumerically(">", 40), "late events, refunds among them, of payments no longer at hand")
	})

	It("goes on from where it stopped, with the states it had", func(ctx SpecContext) {
		Expect(mixedPayments(ctx, p)).To(Succeed())
		t := books.NewTally(books.WithRecent(3))
		run(ctx, t)
		Expect(p.write(ctx, 20)).To(Succeed())
		run(ctx, t)
		totals := must(t.Totals(ctx))
		Expect(printed(totals)).To(Equal(printed(fullFold(ctx, store, p))))
		Expect(totals.Position).To(BeEquivalentTo(p.last))
	})

	It("stops, with nothing counted, at an event whose stream it cannot read back, and goes on once it can", func(ctx SpecContext) {
		Expect(p.write(ctx, 10)).To(Succeed())
		t := books.NewTally(books.WithRecent(1))
		failing := errors.New("disk on fire")
		err := t.Run(ctx, unreadable{UpTo: storetest.UpTo{Store: store, Last: p.last}, err: failing})
		Expect(err).To(MatchError(failing))
		Expect(err).To(MatchError(ContainSubstring("payment-order-")))
		stopped := must(t.Totals(ctx))
		Expect(stopped.Position).To(BeNumerically("<", p.last))
		run(ctx, t)
		Expect(printed(must(t.Totals(ctx)))).To(Equal(printed(fullFold(ctx, store, p))))
	})
})

// unreadable is a store whose streams cannot be read back.
type unreadable struct {
	storetest.UpTo
	err error
}

func (u unreadable) ReadStream(context.Context, string) ([]eventstore.RecordedEvent, error) {
	return nil, u.err
}

// mixedPayments writes, interleaved, payments that reach every figure of Totals: approved
// and refunded in part, in full, at the PSP without orders and then allocated; failed; a
// virtual-account deposit approved, withdrawn and deposited again; one refunded in part and
// then withdrawn, whose seller has nothing refunded left.
func mixedPayments(ctx context.Context, p *payments) error {
	d := decimal.NewFromInt
	checkout := func(id string, lines ...aggregate.OrderLine) aggregate.CheckoutCreated {
		total := decimal.Zero
		for _, l := range lines {
			total = total.Add(l.Amount)
		}
		return aggregate.CheckoutCreated{OrderID: id, OrderName: id, BuyerID: "b", Orders: lines, TotalAmount: total, At: at}
	}
	line := func(seller string, amount int64) aggregate.OrderLine {
		return aggregate.OrderLine{ProductID: "p", SellerID: seller, Quantity: 1, UnitPrice: d(amount), Amount: d(amount)}
	}
	approved := aggregate.PspApproved{PaymentKey: "k", Method: "카드", ApprovedAt: at, Rule: "fixture", At: at}
	started := aggregate.ExecutionStarted{PaymentKey: "k", PspIdempotencyKey: "i", At: at}
	done := []aggregate.Event{aggregate.LedgerUpdated{Orders: []int{1, 2}, At: at}, aggregate.WalletUpdated{Orders: []int{1, 2}, At: at},
		aggregate.PaymentCompleted{At: at}}
	refund := func(id string, amount int64, orders ...aggregate.RefundSplit) []aggregate.Event {
		return []aggregate.Event{aggregate.RefundRequested{RefundID: id, Amount: d(amount), Orders: orders, PspIdempotencyKey: id, At: at},
			aggregate.RefundApproved{RefundID: id, TransactionKey: "tk-" + id, CanceledAt: at, Rule: "fixture", At: at}}
	}
	va := aggregate.VirtualAccount{BankCode: "88", AccountNumber: "1", HolderName: "h", DueDate: at}
	steps := []struct {
		id     string
		events []aggregate.Event
	}{
		{"m1", []aggregate.Event{checkout("m1", line("s1", 1000), line("s2", 2000)), started, approved}},
		{"m2", []aggregate.Event{checkout("m2", line("s3", 500)), started,
			aggregate.PspFailed{Code: "REJECT_CARD_COMPANY", Rule: "fixture", At: at}}},
		{"m3", []aggregate.Event{checkout("m3", line("s1", 1000), line("s4", 700)),
			aggregate.DepositAwaited{PaymentKey: "k", Method: "가상계좌", VirtualAccount: va, Rule: "fixture", At: at}}},
		{"m1", done},
		{"m4", []aggregate.Event{checkout("m4", line("s2", 400), line("s3", 600)), started, approved}},
		{"m3", []aggregate.Event{approved}},
		{"m1", refund("m1-r1", 500, aggregate.RefundSplit{Seq: 2, Amount: d(500)})},
		{"m4", []aggregate.Event{aggregate.ExternalRefundRecorded{RefundID: "m4-r1", TransactionKey: "tk", Amount: d(300), FoundBy: "webhook",
			CanceledAt: at, At: at}}},
		{"m3", []aggregate.Event{aggregate.DepositWithdrawn{WithdrawalID: "w1", Amount: d(1700), ApprovedAt: at, Rule: "fixture",
			Orders: []aggregate.RefundSplit{{Seq: 1, Amount: d(1000)}, {Seq: 2, Amount: d(700)}}, At: at}}},
		{"m5", []aggregate.Event{checkout("m5", line("s4", 900)), started, approved}},
		{"m4", refund("m4-r2", 600, aggregate.RefundSplit{Seq: 2, Amount: d(600)})},
		{"m5", refund("m5-r1", 900, aggregate.RefundSplit{Seq: 1, Amount: d(900)})},
		{"m6", []aggregate.Event{checkout("m6", line("s2", 250)), started, approved}},
		{"m6", []aggregate.Event{aggregate.ExternalRefundRecorded{RefundID: "m6-r1", TransactionKey: "tk6", Amount: d(250), FoundBy: "lookup",
			CanceledAt: at, At: at}}},
		{"m3", []aggregate.Event{approved}},
		{"m6", []aggregate.Event{aggregate.RefundAllocated{RefundID: "m6-r1", Orders: []aggregate.RefundSplit{{Seq: 1, Amount: d(250)}},
			Actor: "ops", Reason: "split", At: at}}},
		{"m7", []aggregate.Event{checkout("m7", line("s5", 800)),
			aggregate.DepositAwaited{PaymentKey: "k", Method: "가상계좌", VirtualAccount: va, Rule: "fixture", At: at}, approved}},
		{"m7", refund("m7-r1", 100, aggregate.RefundSplit{Seq: 1, Amount: d(100)})},
		{"m7", []aggregate.Event{aggregate.DepositWithdrawn{WithdrawalID: "w7", Amount: d(800), ApprovedAt: at, Rule: "fixture",
			Orders: []aggregate.RefundSplit{{Seq: 1, Amount: d(800)}}, At: at}}},
		{"m1", refund("m1-r2", 1000, aggregate.RefundSplit{Seq: 1, Amount: d(1000)})[:1]},
		{"m1", []aggregate.Event{aggregate.RefundFailed{RefundID: "m1-r2", Rule: "fixture", At: at}}},
	}
	for _, s := range steps {
		if err := p.add(ctx, s.id, s.events...); err != nil {
			return fmt.Errorf("%s: %w", s.id, err)
		}
	}
	return nil
}

// fullFold is what Tally reported when it kept every payment's state: each stream p wrote,
// folded whole, then totalled.
func fullFold(ctx context.Context, store eventstore.Store, p *payments) books.Totals {
	GinkgoHelper()
	out := books.Totals{Approved: map[string]decimal.Decimal{}, Refunded: map[string]decimal.Decimal{},
		Withdrawn: map[string]decimal.Decimal{}, Position: uint64(p.last)}
	for id := range p.revision {
		var s aggregate.State
		for _, e := range must(store.ReadStream(ctx, aggregate.StreamName(id))) {
			var err error
			s, _, err = aggregate.EvolveStored(s, e.Type, e.Data)
			Expect(err).NotTo(HaveOccurred())
		}
		sellers := map[int]string{}
		for _, o := range s.Orders {
			sellers[o.Seq] = o.SellerID
		}
		for _, w := range s.Withdrawals {
			for _, sp := range w.Orders {
				out.Approved[sellers[sp.Seq]] = out.Approved[sellers[sp.Seq]].Add(sp.Amount)
				out.Withdrawn[sellers[sp.Seq]] = out.Withdrawn[sellers[sp.Seq]].Add(sp.Amount)
			}
		}
		if !s.Status.Approved() {
			continue
		}
		for _, o := range s.Orders {
			out.Approved[o.SellerID] = out.Approved[o.SellerID].Add(o.Amount)
			if o.Refunded.IsPositive() {
				out.Refunded[o.SellerID] = out.Refunded[o.SellerID].Add(o.Refunded)
			}
		}
		for _, r := range s.Refunds {
			if r.Status == aggregate.StatusSuccess && r.Orders == nil {
				out.Unallocated = out.Unallocated.Add(r.Amount)
			}
		}
	}
	return out
}

// printed is t as the books print it.
func printed(t books.Totals) map[string]string {
	out := map[string]string{"unallocated": t.Unallocated.String(), "position": fmt.Sprint(t.Position)}
	for name, figures := range map[string]map[string]decimal.Decimal{"approved": t.Approved, "refunded": t.Refunded, "withdrawn": t.Withdrawn} {
		for seller, v := range figures {
			out[name+" "+seller] = v.String()
		}
	}
	return out
}

// must fails the spec on err and returns v.
func must[T any](v T, err error) T {
	GinkgoHelper()
	Expect(err).NotTo(HaveOccurred())
	return v
}
