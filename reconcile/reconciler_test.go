package reconcile_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"log/slog"
	"net/http/httptest"
	"slices"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream"
	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/catalog"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/embedded"
	"github.com/paystream/paystream/kafkamsg"
	"github.com/paystream/paystream/ledger"
	"github.com/paystream/paystream/reconcile"
	"github.com/paystream/paystream/toss"
	"github.com/paystream/paystream/toss/tosssim"
)

const simKey = "test_sk_reconcile_spec"

// clock is the time of the simulator and the service.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// directory lists the payments the spec created, as the read models would.
type directory struct {
	mu  sync.Mutex
	ids []string
}

func (d *directory) add(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ids = append(d.ids, id)
}

func (d *directory) Created(_ context.Context, _, _ time.Time, _ string) ([]string, string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.ids), "", nil
}

// lossyPSP is Toss with the answers to some confirms lost on the way back: the money is
// captured, the confirm is recorded UNKNOWN, and recovery has not run yet.
type lossyPSP struct {
	commands.PSP
	mu   sync.Mutex
	lose map[string]bool
}

func (l *lossyPSP) Confirm(ctx context.Context, e commands.Execution) commands.PSPAnswer {
	a := l.PSP.Confirm(ctx, e)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lose[e.OrderID] {
		return commands.PSPAnswer{Verdict: aggregate.Verdict{Status: aggregate.StatusUnknown, Rule: "spec/answer-lost"}}
	}
	return a
}

// books records what it was handed, and books it in ledger when set.
type books struct {
	mu     sync.Mutex
	runs   map[string][]reconcile.SettlementRecorded
	ledger reconcile.Books
}

func (b *books) BookSettlements(ctx context.Context, runID string, s []reconcile.SettlementRecorded) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.runs[runID] = s
	if b.ledger != nil {
		return b.ledger.BookSettlements(ctx, runID, s)
	}
	return nil
}

var _ = Describe("Reconciler over seeded runs against the Toss simulator", func() {
	var (
		now     *clock
		sim     *tosssim.Simulator
		tc      *toss.Client
		store   *embedded.Store
		svc     *commands.Service
		psp     *lossyPSP
		dir     *directory
		booked  *books
		rec     *reconcile.Reconciler
		period  reconcile.Period
		meta    = commands.Meta{CorrelationID: "req-spec", Actor: "merchant:shop"}
		buyerNo int
	)

	BeforeEach(func() {
		now = &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} // 12:04:05 KST, Friday
		sim = tosssim.New(tosssim.Options{SecretKeys: []string{simKey}, Now: now.Now, Seed: 3})
		srv := httptest.NewServer(sim)
		DeferCleanup(srv.Close)
		DeferCleanup(sim.Close)
		tc = toss.NewClient(srv.URL, simKey)
		store = embedded.OpenMemory()
		DeferCleanup(store.Close)
		products, err := catalog.Parse(paystream.SampleCatalog)
		Expect(err).NotTo(HaveOccurred())
		psp = &lossyPSP{PSP: toss.NewPSP(tc), lose: map[string]bool{}}
		svc = commands.New(commands.Config{Store: store, PSP: psp, Catalog: products, Now: now.Now,
			Logger: slog.New(slog.NewTextHandler(GinkgoWriter, nil))})
		dir = &directory{}
		booked = &books{runs: map[string][]reconcile.SettlementRecorded{}}
		rec = reconcile.New(reconcile.Config{Toss: tc, Payments: svc, Streams: store, Directory: dir, Books: booked, Now: now.Now,
			Logger: slog.New(slog.NewTextHandler(GinkgoWriter, nil))})
		period = reconcile.Day(now.Now())
	})

	// pay checks out items and confirms them at the simulator; it returns the payment.
	pay := func(ctx context.Context, items ...string) commands.Payment {
		GinkgoHelper()
		buyerNo++
		var lines []commands.Item
		for _, id := range items {
			lines = append(lines, commands.Item{ProductID: id, Quantity: 1})
		}
		p, err := svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "buyer-" + decimal.NewFromInt(int64(buyerNo)).String(), Items: lines}, meta)
		Expect(err).NotTo(HaveOccurred())
		dir.add(p.OrderID)
		key, err := sim.CreateSession(p.OrderID, p.TotalAmount)
		Expect(err).NotTo(HaveOccurred())
		p, err = svc.Confirm(ctx, commands.ConfirmRequest{OrderID: p.OrderID, PaymentKey: key, Amount: p.TotalAmount}, meta)
		Expect(err).NotTo(HaveOccurred())
		now.Advance(time.Minute)
		return p
	}
	approvalKey := func(orderID string) string {
		GinkgoHelper()
		txs := sim.Transactions(orderID)
		Expect(txs).NotTo(BeEmpty())
		Expect(txs[0].Status).To(Equal(toss.StatusDone))
		return txs[0].TransactionKey
	}
	streamOf := func(ctx context.Context, orderID string) []eventstore.RecordedEvent {
		GinkgoHelper()
		h, err := svc.Events(ctx, orderID)
		Expect(err).NotTo(HaveOccurred())
		return h
	}
	kinds := func(rep reconcile.Report) map[string]reconcile.Kind {
		out := map[string]reconcile.Kind{}
		for _, m := range rep.Mismatches {
			out[m.OrderID+" "+string(m.Kind)] = m.Kind
		}
		return out
	}
	find := func(rep reconcile.Report, orderID string, k reconcile.Kind) reconcile.Mismatch {
		GinkgoHelper()
		for _, m := range rep.Mismatches {
			if m.OrderID == orderID && m.Kind == k {
				return m
			}
		}
		Fail("no " + string(k) + " mismatch for " + orderID)
		return reconcile.Mismatch{}
	}

	It("finds, classifies and records every kind of disagreement, fixes the auto-fixable ones, and a re-run finds nothing new", func(ctx SpecContext) {
		matched := pay(ctx, "book-kia")

		// A cancel made in Toss's console, its webhook dropped (none arrives): not on our stream.
		consoleCancelled := pay(ctx, "book-gopl", "mug-gopher")
		part := decimal.NewFromInt(12500)
		_, err := sim.ConsoleCancel(consoleCancelled.PaymentKey, &part, "card company chargeback")
		Expect(err).NotTo(HaveOccurred())

		// Approved at Toss, the answer lost: UNKNOWN here, recovery has not run yet.
		unsettled, err := svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "buyer-lost", Items: []commands.Item{{ProductID: "sticker-pack", Quantity: 2}}}, meta)
		Expect(err).NotTo(HaveOccurred())
		dir.add(unsettled.OrderID)
		psp.mu.Lock()
		psp.lose[unsettled.OrderID] = true
		psp.mu.Unlock()
		key, err := sim.CreateSession(unsettled.OrderID, unsettled.TotalAmount)
		Expect(err).NotTo(HaveOccurred())
		unsettled, err = svc.Confirm(ctx, commands.ConfirmRequest{OrderID: unsettled.OrderID, PaymentKey: key, Amount: unsettled.TotalAmount}, meta)
		Expect(err).NotTo(HaveOccurred())
		Expect(unsettled.Status).To(Equal(aggregate.StatusUnknown))
		Expect(sim.Approvals(unsettled.OrderID)).To(Equal(1))
		psp.mu.Lock()
		delete(psp.lose, unsettled.OrderID)
		psp.mu.Unlock()

		// Toss's record of an approval shows another amount.
		amountChanged := pay(ctx, "keyboard-65")
		other := decimal.NewFromInt(150000)
		Expect(sim.AlterTransaction(approvalKey(amountChanged.OrderID), tosssim.Alteration{Amount: &other})).To(Succeed())

		// Toss does not list an approval we recorded.
		unknownAtToss := pay(ctx, "mug-gopher")
		Expect(sim.AlterTransaction(approvalKey(unknownAtToss.OrderID), tosssim.Alteration{Hidden: true})).To(Succeed())

		// Toss does not list a refund we recorded.
		refunded := pay(ctx, "book-kia", "sticker-pack")
		refunded, err = svc.Cancel(ctx, commands.CancelRequest{OrderID: refunded.OrderID, Amount: decimal.NewFromInt(3000),
			Orders: []aggregate.RefundSplit{{Seq: 2, Amount: decimal.NewFromInt(3000)}}, Reason: "sticker out of stock"}, meta)
		Expect(err).NotTo(HaveOccurred())
		Expect(refunded.Refunds).To(HaveLen(1))
		Expect(refunded.Refunds[0].Status).To(Equal(aggregate.StatusSuccess))
		Expect(sim.AlterTransaction(refunded.Refunds[0].TransactionKey, tosssim.Alteration{Hidden: true})).To(Succeed())

		// Toss's settlement pays out other than its figures add up to.
		payoutChanged := pay(ctx, "book-gopl")
		odd := decimal.NewFromInt(1)
		Expect(sim.AlterTransaction(approvalKey(payoutChanged.OrderID), tosssim.Alteration{PayOutAmount: &odd})).To(Succeed())

		// A transaction of a status the reconciler does not judge.
		strange := pay(ctx, "sticker-pack")
		Expect(sim.AlterTransaction(approvalKey(strange.OrderID), tosssim.Alteration{Status: "ABORTED"})).To(Succeed())

		// Money Toss moved for an order paystream never created.
		stranger, err := sim.CreateSession("order-not-ours-1", decimal.NewFromInt(5000))
		Expect(err).NotTo(HaveOccurred())
		_, err = tc.Confirm(ctx, toss.ConfirmRequest{PaymentKey: stranger, OrderID: "order-not-ours-1", Amount: decimal.NewFromInt(5000)}, "")
		Expect(err).NotTo(HaveOccurred())

		now.Advance(14 * time.Hour) // the next morning, KST: recovery's backoff has long passed
		before := map[string]int{}
		for _, id := range []string{matched.OrderID, amountChanged.OrderID, unknownAtToss.OrderID, refunded.OrderID, payoutChanged.OrderID, strange.OrderID} {
			before[id] = len(streamOf(ctx, id))
		}

		var phases []string
		first, err := rec.Run(ctx, period, "operator:kim", func(p reconcile.Progress) {
			if len(phases) == 0 || phases[len(phases)-1] != p.Phase {
				phases = append(phases, p.Phase)
			}
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(phases).To(Equal([]string{"transactions", "settlements", "payments", "fixes", "recording"}))
		Expect(kinds(first)).To(Equal(map[string]reconcile.Kind{
			consoleCancelled.OrderID + " cancel-not-recorded": reconcile.CancelNotRecorded,
			unsettled.OrderID + " approval-not-settled":       reconcile.ApprovalNotSettled,
			amountChanged.OrderID + " amount-differs":         reconcile.AmountDiffers,
			unknownAtToss.OrderID + " approval-not-at-toss":   reconcile.ApprovalNotAtToss,
			refunded.OrderID + " refund-not-at-toss":          reconcile.RefundNotAtToss,
			payoutChanged.OrderID + " settlement-differs":     reconcile.SettlementDiffers,
			strange.OrderID + " unrecognised":                 reconcile.Unrecognised,
			strange.OrderID + " approval-not-at-toss":         reconcile.ApprovalNotAtToss, // Toss lists no approval of it either
			"order-not-ours-1 payment-not-here":               reconcile.PaymentNotHere,
		}))
		Expect(first.Completed.ByClass).To(Equal(map[reconcile.Class]int{reconcile.AutoFixable: 2, reconcile.NeedsPerson: 6,
			reconcile.Unclassifiable: 1}))
		Expect(first.Completed.New).To(Equal(9))
		Expect(first.Completed.Fixed).To(Equal(2))
		Expect(first.NeedsAttention()).To(Equal(7))

		By("fixing the console cancel through RecordExternalRefunds, found by reconciliation, the reconciler the actor")
		fix := find(first, consoleCancelled.OrderID, reconcile.CancelNotRecorded)
		Expect(fix.Class).To(Equal(reconcile.AutoFixable))
		Expect(fix.Fix).NotTo(BeNil())
		Expect(fix.Fix.Command).To(Equal("RecordExternalRefunds"))
		Expect(fix.Fix.Fixed).To(BeTrue())
		p, err := svc.Load(ctx, consoleCancelled.OrderID)
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Refunds).To(HaveLen(1))
		Expect(p.Refunds[0].External).To(BeTrue())
		Expect(p.Refunds[0].FoundBy).To(Equal("reconciliation"))
		Expect(p.Refunds[0].Amount.Equal(part)).To(BeTrue())
		h := streamOf(ctx, consoleCancelled.OrderID)
		Expect(string(h[len(h)-1].Metadata)).To(ContainSubstring(`"actor":"reconciler"`))

		By("settling the lost approval through Recover")
		fix = find(first, unsettled.OrderID, reconcile.ApprovalNotSettled)
		Expect(fix.Fix.Command).To(Equal("Recover"))
		Expect(fix.Fix.Fixed).To(BeTrue())
		p, err = svc.Load(ctx, unsettled.OrderID)
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Status).To(Equal(aggregate.StatusSuccess))

		By("leaving what needs a person on the streams untouched")
		for id, n := range before {
			Expect(streamOf(ctx, id)).To(HaveLen(n), id)
		}
		differs := find(first, amountChanged.OrderID, reconcile.AmountDiffers)
		Expect(differs.Class).To(Equal(reconcile.NeedsPerson))
		Expect(differs.TossAmount.String()).To(Equal("150000"))
		Expect(differs.OurAmount.String()).To(Equal("159000"))
		Expect(differs.Fix).To(BeNil())
		Expect(find(first, strange.OrderID, reconcile.Unrecognised).Class).To(Equal(reconcile.Unclassifiable))

		By("recording settlements per payment and handing them to the books")
		Expect(first.Settlements).NotTo(BeEmpty())
		var s reconcile.SettlementRecorded
		for _, row := range first.Settlements {
			if row.OrderID == matched.OrderID {
				s = row
			}
		}
		Expect(s.Amount.String()).To(Equal("36000"))
		Expect(s.Fee.String()).To(Equal("1224")) // 36000 × 3.4%
		Expect(s.VAT.String()).To(Equal("122"))
		Expect(s.PayOut.String()).To(Equal("34654"))
		Expect(s.PaidOutDate).To(Equal("2026-01-06"))
		Expect(booked.runs[first.RunID]).To(Equal(first.Settlements))

		By("recording the run in its stream, events and all")
		recorded, err := store.ReadStream(ctx, "reconciliation-20260102-20260102-1")
		Expect(err).NotTo(HaveOccurred())
		Expect(recorded[0].Type).To(Equal(reconcile.NameRunStarted))
		Expect(recorded[len(recorded)-1].Type).To(Equal(reconcile.NameRunCompleted))
		var types []string
		for _, e := range recorded {
			types = append(types, e.Type)
		}
		Expect(types).To(ContainElements(reconcile.NameMismatchFound, reconcile.NameMismatchFixed, reconcile.NameSettlementRecorded))
		latest, err := rec.Latest(ctx, period)
		Expect(err).NotTo(HaveOccurred())
		Expect(latest.Mismatches).To(Equal(first.Mismatches), "the stream folds back to the run's report")

		By("a second run finds nothing new and changes no payment")
		heads := map[string]int{}
		for _, id := range dir.ids {
			heads[id] = len(streamOf(ctx, id))
		}
		second, err := rec.Run(ctx, period, "schedule", nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(second.Run).To(Equal(2))
		Expect(second.Completed.New).To(BeZero())
		Expect(second.Completed.Fixed).To(BeZero())
		Expect(second.Completed.ByClass).To(Equal(map[reconcile.Class]int{reconcile.NeedsPerson: 6, reconcile.Unclassifiable: 1}))
		for _, m := range second.Mismatches {
			Expect(m.FirstFoundIn).To(Equal(first.RunID), m.ID)
		}
		for id, n := range heads {
			Expect(streamOf(ctx, id)).To(HaveLen(n), id)
		}
		Expect(rec.Stats().New).To(Equal(map[reconcile.Class]int64{reconcile.AutoFixable: 2, reconcile.NeedsPerson: 6, reconcile.Unclassifiable: 1}))
		Expect(rec.Stats().Fixed).To(Equal(int64(2)))
		Expect(rec.Stats().Runs).To(Equal(int64(2)))

		By("listing what the latest run left open")
		open, err := rec.Open(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(open).To(HaveLen(7))
		for _, m := range open {
			Expect(m.RunID).To(Equal(second.RunID))
			Expect(m.Class).NotTo(Equal(reconcile.AutoFixable))
		}

		By("exporting the report as CSV")
		var buf bytes.Buffer
		Expect(reconcile.WriteCSV(&buf, second)).To(Succeed())
		rows, err := csv.NewReader(&buf).ReadAll()
		Expect(err).NotTo(HaveOccurred())
		Expect(rows[0]).To(Equal(reconcile.CSVHeader))
		Expect(rows).To(HaveLen(1 + len(second.Mismatches) + len(second.Settlements)))
		Expect(rows[1][2]).To(Equal("mismatch"))
		Expect(rows[len(rows)-1][2]).To(Equal("settlement"))
	})

	It("ties a clean period out to the won: our approvals net of refunds, Toss's settled amount, payouts + fees + VAT", func(ctx SpecContext) {
		a := pay(ctx, "book-kia", "mug-gopher")
		b := pay(ctx, "keyboard-65")
		_, err := svc.Cancel(ctx, commands.CancelRequest{OrderID: a.OrderID, Amount: decimal.NewFromInt(12500),
			Orders: []aggregate.RefundSplit{{Seq: 2, Amount: decimal.NewFromInt(12500)}}, Reason: "mug broken"}, meta)
		Expect(err).NotTo(HaveOccurred())
		now.Advance(time.Second)
		_, err = sim.ConsoleCancel(b.PaymentKey, nil, "buyer called the card company")
		Expect(err).NotTo(HaveOccurred())
		now.Advance(12 * time.Hour)

		rep, err := rec.Run(ctx, period, "operator:kim", nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.Completed.ByClass).To(Equal(map[reconcile.Class]int{reconcile.AutoFixable: 1}), "the console cancel, fixed")
		Expect(rep.NeedsAttention()).To(BeZero())
		t := rep.Completed.Totals
		Expect(t.Approved.String()).To(Equal("207500")) // 36000 + 12500 + 159000
		Expect(t.Refunded.String()).To(Equal("171500")) // 12500 + 159000
		Expect(t.Settled.String()).To(Equal("36000"))
		Expect(t.PayOut.Add(t.Fees).Add(t.VAT).String()).To(Equal("36000"))
		Expect(rep.Completed.TiesOut).To(BeTrue())

		again, err := rec.Run(ctx, period, "operator:kim", nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(again.Mismatches).To(BeEmpty())
		Expect(again.Completed.TiesOut).To(BeTrue())
		open, err := rec.Open(ctx)
		Expect(err).NotTo(HaveOccurred())
		Expect(open).To(BeEmpty())
	})

	It("books Toss's settlements in the reference ledger: sellers tie out to fees + Toss receivable + cash, to the won, and re-runs book nothing twice", func(ctx SpecContext) {
		ldg := ledger.New(ledger.NewMemoryStore(), ledger.WithClock(now.Now))
		booked.ledger = ldg
		// The ledger books what the forwarder would send it: each approval, and each refund
		// (an allocated one from its sellers, a console cancel's unallocated).
		approve := func(p commands.Payment) string {
			GinkgoHelper()
			a := kafkamsg.Approved{Schema: kafkamsg.SchemaApproved, OrderID: p.OrderID, PaymentKey: p.PaymentKey,
				TotalAmount: p.TotalAmount, SourceEventID: "approval-" + p.OrderID}
			for _, o := range p.Orders {
				a.Orders = append(a.Orders, kafkamsg.ApprovedOrder{Seq: o.Seq, SellerID: o.SellerID, Amount: o.Amount})
			}
			Expect(ldg.Book(ctx, a)).To(BeTrue())
			return a.SourceEventID
		}
		refund := func(p commands.Payment, approval, amount string, orders ...kafkamsg.RefundedOrder) {
			GinkgoHelper()
			Expect(ldg.BookRefund(ctx, kafkamsg.Refunded{Schema: kafkamsg.SchemaRefunded, OrderID: p.OrderID,
				RefundID: "refund-" + p.OrderID, Amount: decimal.RequireFromString(amount), Orders: orders,
				ApprovalID: approval, SourceEventID: "refund-" + p.OrderID})).To(BeTrue())
		}
		a := pay(ctx, "book-kia", "mug-gopher")
		b := pay(ctx, "keyboard-65")
		_, err := svc.Cancel(ctx, commands.CancelRequest{OrderID: a.OrderID, Amount: decimal.NewFromInt(12500),
			Orders: []aggregate.RefundSplit{{Seq: 2, Amount: decimal.NewFromInt(12500)}}, Reason: "mug broken"}, meta)
		Expect(err).NotTo(HaveOccurred())
		_, err = sim.ConsoleCancel(b.PaymentKey, nil, "buyer called the card company")
		Expect(err).NotTo(HaveOccurred())
		refund(a, approve(a), "12500", kafkamsg.RefundedOrder{Seq: 2, SellerID: a.Orders[1].SellerID, Amount: decimal.NewFromInt(12500)})
		refund(b, approve(b), "159000")
		now.Advance(12 * time.Hour)

		net := func(account string) decimal.Decimal {
			GinkgoHelper()
			bal, err := ldg.Balance(ctx, account)
			Expect(err).NotTo(HaveOccurred())
			return bal.Net()
		}
		// tieOut checks sellers − unallocated refunds = fees + receivable + cash = approvals
		// net of refunds, and that the ledger's fees and cash are Toss's figures.
		tieOut := func(rep reconcile.Report, cash decimal.Decimal) {
			GinkgoHelper()
			t := rep.Completed.Totals
			expected := t.Approved.Sub(t.Refunded)
			Expect(expected.String()).To(Equal("36000"))
			sellers := decimal.Zero
			all, err := ldg.Balances(ctx)
			Expect(err).NotTo(HaveOccurred())
			for _, bal := range all {
				if _, ok := ledger.SellerOf(bal.Account); ok {
					sellers = sellers.Sub(bal.Net())
				}
			}
			Expect(sellers.Sub(net(ledger.AccountRefundsUnallocated)).String()).To(Equal(expected.String()))
			Expect(net(ledger.AccountPSPFees).Add(net(ledger.AccountPSPReceivable)).Add(net(ledger.AccountCash)).String()).
				To(Equal(expected.String()))
			Expect(net(ledger.AccountPSPFees).String()).To(Equal(t.Fees.Add(t.VAT).String()))
			Expect(net(ledger.AccountCash).String()).To(Equal(cash.String()))
		}

		first, err := rec.Run(ctx, period, "operator:kim", nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(first.Completed.TiesOut).To(BeTrue())
		Expect(first.Settlements).To(HaveLen(4), "two approvals, the refund and the console cancel")
		tieOut(first, decimal.Zero) // not paid out yet: all receivable
		Expect(net(ledger.AccountPSPReceivable).String()).To(Equal(first.Completed.Totals.PayOut.String()))
		txs, err := ldg.Transactions(ctx)
		Expect(err).NotTo(HaveOccurred())

		again, err := rec.Run(ctx, period, "operator:kim", nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(ldg.Transactions(ctx)).To(HaveLen(len(txs)), "a re-run books nothing")
		tieOut(again, decimal.Zero)

		paidOut := first.Settlements[0].PaidOutDate
		for _, st := range first.Settlements {
			Expect(st.PaidOutDate).To(Equal(paidOut), "one payout day for the period")
		}
		due, err := time.ParseInLocation(time.DateOnly, paidOut, toss.KST)
		Expect(err).NotTo(HaveOccurred())
		now.Advance(due.Sub(now.Now()) + time.Hour)
		later, err := rec.Run(ctx, period, "operator:kim", nil)
		Expect(err).NotTo(HaveOccurred())
		tieOut(later, later.Completed.Totals.PayOut) // paid out on the payout date
		Expect(net(ledger.AccountPSPReceivable).IsZero()).To(BeTrue())
		txs, err = ldg.Transactions(ctx)
		Expect(err).NotTo(HaveOccurred())
		last, err := rec.Run(ctx, period, "operator:kim", nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(ldg.Transactions(ctx)).To(HaveLen(len(txs)), "nor does one after the payout")
		tieOut(last, last.Completed.Totals.PayOut)
	})

	It("records a run that could not read Toss as failed, and the next run starts afresh", func(ctx SpecContext) {
		pay(ctx, "book-kia")
		sim.SetFaults(tosssim.Faults{Rate5xx: 1})
		_, err := rec.Run(ctx, period, "schedule", nil)
		Expect(err).To(HaveOccurred())
		recorded, err := store.ReadStream(ctx, "reconciliation-20260102-20260102-1")
		Expect(err).NotTo(HaveOccurred())
		Expect(string(recorded[len(recorded)-1].Data)).To(ContainSubstring(`"failed":"toss transactions`))
		_, err = rec.Latest(ctx, period)
		Expect(err).NotTo(HaveOccurred(), "a failed run is still the latest finished one")

		sim.SetFaults(tosssim.Faults{})
		rep, err := rec.Run(ctx, period, "schedule", nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.Run).To(Equal(2))
		Expect(rep.Mismatches).To(BeEmpty())
	})

	It("reads periods of whole KST days", func() {
		p, err := reconcile.ParsePeriod("2026-01-01", "2026-01-07")
		Expect(err).NotTo(HaveOccurred())
		Expect(p.ID()).To(Equal("20260101-20260107"))
		Expect(p.Start().In(toss.KST).Format(time.RFC3339)).To(Equal("2026-01-01T00:00:00+09:00"))
		Expect(p.End().In(toss.KST).Format(time.RFC3339)).To(Equal("2026-01-08T00:00:00+09:00"))
		_, err = reconcile.ParsePeriod("2026-01-07", "2026-01-01")
		Expect(err).To(MatchError(ContainSubstring("before")))
		_, err = reconcile.ParsePeriod("2026-1-7", "2026-01-08")
		Expect(err).To(MatchError(ContainSubstring("not a date")))
		_, err = reconcile.ParsePeriod("2026-01-01", "2026-12-31")
		Expect(err).To(MatchError(ContainSubstring("more than")))
		Expect(reconcile.Day(time.Date(2026, 1, 1, 16, 0, 0, 0, time.UTC)).First).To(Equal("2026-01-02"), "01:00 KST")
	})
})
