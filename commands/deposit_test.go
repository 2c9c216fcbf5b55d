package commands_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream"
	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/catalog"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/eventstore/embedded"
)

// virtualAccountPSP plays Toss for virtual-account payments, in paystream's terms: a confirm
// issues an account (WAITING_FOR_DEPOSIT with the secret); the record then says what the
// spec set — waiting, deposited (DONE), expired at Toss, or cancelled.
type virtualAccountPSP struct {
	mu      sync.Mutex
	due     time.Time
	status  map[string]string // orderId → WAITING_FOR_DEPOSIT | DONE | EXPIRED | CANCELED
	cancels int
}

const vaSecret = "ps_virtual_account_secret_0123"

func (f *virtualAccountPSP) set(orderID, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status[orderID] = status
}

func (f *virtualAccountPSP) account() *aggregate.VirtualAccount {
	return &aggregate.VirtualAccount{AccountType: "일반", BankCode: "20", AccountNumber: "X6320001254801", HolderName: "김토스", DueDate: f.due}
}

func (f *virtualAccountPSP) Confirm(_ context.Context, e commands.Execution) commands.PSPAnswer {
	f.set(e.OrderID, "WAITING_FOR_DEPOSIT")
	return commands.PSPAnswer{Verdict: aggregate.Verdict{Status: aggregate.StatusWaitingForDeposit, Rule: "fake/waiting",
		PaymentKey: e.PaymentKey, TotalAmount: e.Amount, Method: "VIRTUAL_ACCOUNT", VirtualAccount: f.account(),
		DepositSecret: vaSecret, Evidence: json.RawMessage(`{"status":"WAITING_FOR_DEPOSIT","secret":"[REDACTED]"}`)}}
}

func (f *virtualAccountPSP) Lookup(_ context.Context, e commands.Execution) commands.PSPRecord {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.status[e.OrderID]
	rec := commands.PSPRecord{Status: st, Evidence: json.RawMessage(`{"status":"` + st + `"}`)}
	switch st {
	case "WAITING_FOR_DEPOSIT":
		rec.Decided, rec.Verdict = true, aggregate.Verdict{Status: aggregate.StatusWaitingForDeposit, Rule: "fake/lookup-waiting",
			PaymentKey: e.PaymentKey, TotalAmount: e.Amount, VirtualAccount: f.account(), DepositSecret: vaSecret}
	case "DONE":
		rec.Decided, rec.Verdict = true, aggregate.Verdict{Status: aggregate.StatusSuccess, Rule: "fake/lookup-done",
			PaymentKey: e.PaymentKey, TotalAmount: e.Amount, Method: "VIRTUAL_ACCOUNT", ApprovedAt: f.due.Add(-time.Hour)}
	case "EXPIRED", "CANCELED":
		rec.Decided, rec.Verdict = true, aggregate.Verdict{Status: aggregate.StatusFailure, Rule: "fake/lookup-not-paid", Code: st}
	}
	return rec
}

func (f *virtualAccountPSP) Cancel(_ context.Context, r commands.RefundExecution) commands.PSPAnswer {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cancels++
	if f.status[r.OrderID] == "WAITING_FOR_DEPOSIT" {
		f.status[r.OrderID] = "CANCELED"
	}
	return commands.PSPAnswer{Verdict: aggregate.Verdict{Status: aggregate.StatusUnknown, Rule: "fake/cancel"}}
}

// vaClock is a settable Now.
type vaClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *vaClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *vaClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// waitingList lists every payment of the store that waits for a deposit (the read models'
// List by status, folded from the streams here).
type waitingList struct {
	svc *commands.Service
	ids *[]string
}

func (w waitingList) WaitingDeposits(ctx context.Context, _ string) ([]string, string, error) {
	var out []string
	for _, id := range *w.ids {
		p, err := w.svc.Load(ctx, id)
		if err != nil {
			return nil, "", err
		}
		if p.Status == aggregate.StatusWaitingForDeposit {
			out = append(out, id)
		}
	}
	return out, "", nil
}

var _ = Describe("Virtual accounts", func() {
	var (
		store   *embedded.Store
		psp     *virtualAccountPSP
		now     *vaClock
		key     = []byte("0123456789abcdef0123456789abcdef")
		newSvc  func() *commands.Service
		svc     *commands.Service
		meta    = commands.Meta{CorrelationID: "req-va", Actor: "spec"}
		orders  []string
		waiting func(ctx context.Context) commands.Payment
		work    func(ctx context.Context, in *commands.WebhookInbox)
	)

	BeforeEach(func() {
		store = embedded.OpenMemory()
		DeferCleanup(store.Close)
		now = &vaClock{t: time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)}
		psp = &virtualAccountPSP{due: now.Now().Add(7 * 24 * time.Hour), status: map[string]string{}}
		products, err := catalog.Parse(paystream.SampleCatalog)
		Expect(err).NotTo(HaveOccurred())
		newSvc = func() *commands.Service {
			return commands.New(commands.Config{Store: store, PSP: psp, Catalog: products, Now: now.Now, DepositSecretKey: key,
				Logger: slog.New(slog.NewTextHandler(GinkgoWriter, nil)),
				Retry:  commands.Retry{Base: time.Millisecond, Max: 5 * time.Millisecond, AttemptTimeout: time.Second}})
		}
		svc = newSvc()
		orders = nil
		waiting = func(ctx context.Context) commands.Payment {
			p, err := svc.Checkout(ctx, commands.CheckoutRequest{BuyerID: "buyer-1", Items: []commands.Item{{ProductID: "book-kia", Quantity: 1}}}, meta)
			Expect(err).NotTo(HaveOccurred())
			orders = append(orders, p.OrderID)
			p, err = svc.Confirm(ctx, commands.ConfirmRequest{OrderID: p.OrderID, PaymentKey: "pk_" + p.OrderID, Amount: p.TotalAmount}, meta)
			Expect(err).NotTo(HaveOccurred())
			Expect(p.Status).To(Equal(aggregate.StatusWaitingForDeposit))
			return p
		}
		// work runs the inbox until its backlog is worked off.
		work = func(ctx context.Context, in *commands.WebhookInbox) {
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); _ = in.Run(runCtx) }()
			Eventually(in.Backlog).WithTimeout(5 * time.Second).Should(BeZero())
			stop()
			<-done
		}
	})

	It("records the issued account on confirm, stores the secret only as its keyed hash, and leaves it to the buyer", func(ctx SpecContext) {
		p := waiting(ctx)
		Expect(p.VirtualAccount).NotTo(BeNil())
		Expect(p.VirtualAccount.AccountNumber).To(Equal("X6320001254801"))
		Expect(p.VirtualAccount.DueDate).To(Equal(psp.due))
		Expect(p.VirtualAccount.SecretHash).To(HavePrefix("hmac-sha256:"))
		events, err := store.ReadStream(ctx, aggregate.StreamName(p.OrderID))
		Expect(err).NotTo(HaveOccurred())
		Expect(events[len(events)-1].Type).To(Equal(aggregate.NameDepositAwaited))
		for _, e := range events {
			Expect(string(e.Data) + string(e.Metadata)).NotTo(ContainSubstring(vaSecret))
		}

		again, err := svc.Confirm(ctx, commands.ConfirmRequest{OrderID: p.OrderID, PaymentKey: p.PaymentKey, Amount: p.TotalAmount}, meta)
		Expect(err).NotTo(HaveOccurred())
		Expect(again.Revision).To(Equal(p.Revision), "a repeated confirm answers as recorded")

		now.Advance(30 * 24 * time.Hour)
		res, _, err := svc.Recover(ctx, p.OrderID, meta)
		Expect(err).NotTo(HaveOccurred())
		Expect(res).To(Equal(commands.RecoveryNotDue), "waiting is not for recovery, however long")
	})

	It("records the deposit from a deposit callback with the right secret, confirmed by lookup, once", func(ctx SpecContext) {
		p := waiting(ctx)
		in := commands.NewWebhookInbox(svc, 0, 0)
		callback := commands.Webhook{TransmissionID: "tx-1", EventType: "DEPOSIT_CALLBACK", OrderID: p.OrderID, Secret: vaSecret, Status: "DONE"}

		Expect(in.Accept(ctx, callback)).To(Succeed()) // Toss says DONE, but its record does not yet
		work(ctx, in)
		p, err := svc.Load(ctx, p.OrderID)
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Status).To(Equal(aggregate.StatusWaitingForDeposit), "the callback is not believed: the lookup decides")

		psp.set(p.OrderID, "DONE")
		callback.TransmissionID = "tx-2"
		Expect(in.Accept(ctx, callback)).To(Succeed())
		Expect(in.Accept(ctx, callback)).To(Succeed(), "a duplicate is accepted and not stored again")
		Expect(in.Backlog()).To(Equal(1))
		work(ctx, in)
		p, err = svc.Load(ctx, p.OrderID)
		Expect(err).NotTo(HaveOccurred())
		Expect(p.Status).To(Equal(aggregate.StatusSuccess))
		events, err := store.ReadStream(ctx, aggregate.StreamName(p.OrderID))
		Expect(err).NotTo(HaveOccurred())
		Expect(events[len(events)-1].Type).To(Equal(aggregate.NamePspApproved), "approved like a card: the forwarder sends it on")
		Expect(svc.Signals().WebhooksStored).To(Equal(int64(2)))
		inbox, err := store.ReadStream(ctx, commands.WebhookStreamPrefix+now.Now().Format("20060102"))
		Expect(err).NotTo(HaveOccurred())
		for _, e := range inbox {
			Expect(string(e.Data)).NotTo(ContainSubstring(vaSecret))
		}
	})

	It("refuses and alerts a deposit callback with a wrong secret, and records nothing", func(ctx SpecContext) {
		p := waiting(ctx)
		psp.set(p.OrderID, "DONE") // even when Toss's record would say so
		in := commands.NewWebhookInbox(svc, 0, 0)
		Expect(in.Accept(ctx, commands.Webhook{TransmissionID: "forged", EventType: "DEPOSIT_CALLBACK", OrderID: p.OrderID,
			Secret: "guessed", Status: "DONE"})).To(Succeed())
		work(ctx, in)
		got, err := svc.Load(ctx, p.OrderID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Revision).To(Equal(p.Revision))
		s := svc.Signals()
		Expect(s.ForgedDepositCallbacks).To(Equal(int64(1)))
		Expect(s.OperatorAlerts).To(BeNumerically(">=", 1))
		Expect(s.LastAlert).To(ContainSubstring("wrong secret"))
	})

	It("works off webhooks stored before a crash after a restart, and reports the backlog", func(ctx SpecContext) {
		p := waiting(ctx)
		psp.set(p.OrderID, "DONE")
		before := commands.NewWebhookInbox(svc, 0, 0)
		Expect(before.Accept(ctx, commands.Webhook{TransmissionID: "tx-crash", EventType: "PAYMENT_STATUS_CHANGED", OrderID: p.OrderID})).To(Succeed())
		Expect(svc.Signals().WebhookBacklog).To(Equal(int64(1)))
		// The process dies here: answered 200, never worked off.

		svc = newSvc()
		after := commands.NewWebhookInbox(svc, 0, 0)
		Expect(after.Restore(ctx)).To(Succeed())
		Expect(after.Backlog()).To(Equal(1))
		Expect(svc.Signals().WebhookBacklog).To(Equal(int64(1)))
		Expect(after.Accept(ctx, commands.Webhook{TransmissionID: "tx-crash", OrderID: p.OrderID})).To(Succeed())
		Expect(after.Backlog()).To(Equal(1), "Toss's retry of a stored webhook is a duplicate")
		work(ctx, after)
		got, err := svc.Load(ctx, p.OrderID)
		Expect(err).NotTo(HaveOccurred())
		Expect(got.Status).To(Equal(aggregate.StatusSuccess))
		Expect(svc.Signals().WebhookBacklog).To(BeZero())

		again := commands.NewWebhookInbox(newSvc(), 0, 0)
		Expect(again.Restore(ctx)).To(Succeed())
		Expect(again.Backlog()).To(BeZero(), "processed webhooks are not worked off again")
	})

	Describe("the due date", func() {
		var worker *commands.RecoveryWorker
		BeforeEach(func() {
			worker = commands.NewRecoveryWorker(svc, noneDue{}, time.Hour, 0, 1).WithDeposits(waitingList{svc: svc, ids: &orders})
		})

		It("is not checked before it comes", func(ctx SpecContext) {
			p := waiting(ctx)
			psp.set(p.OrderID, "EXPIRED")
			worker.RunOnce(ctx)
			got, err := svc.Load(ctx, p.OrderID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.Status).To(Equal(aggregate.StatusWaitingForDeposit))
		})

		It("expires the account when Toss's record shows no deposit, and alerts a deposit found later", func(ctx SpecContext) {
			p := waiting(ctx)
			psp.set(p.OrderID, "EXPIRED")
			now.Advance(7*24*time.Hour + time.Minute)
			worker.RunOnce(ctx)
			got, err := svc.Load(ctx, p.OrderID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.Status).To(Equal(aggregate.StatusFailure))
			Expect(got.Outcome.Code).To(Equal(aggregate.CodeDepositExpired))

			psp.set(p.OrderID, "DONE") // the bank took a late deposit after all
			in := commands.NewWebhookInbox(svc, 0, 0)
			Expect(in.Accept(ctx, commands.Webhook{TransmissionID: "late", EventType: "DEPOSIT_CALLBACK", OrderID: p.OrderID,
				Secret: vaSecret, Status: "DONE"})).To(Succeed())
			work(ctx, in)
			got, err = svc.Load(ctx, p.OrderID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.Status).To(Equal(aggregate.StatusFailure), "never accepted silently")
			Expect(svc.Signals().LateDeposits).To(Equal(int64(1)))
		})

		It("records a deposit the webhook never announced", func(ctx SpecContext) {
			p := waiting(ctx)
			psp.set(p.OrderID, "DONE")
			now.Advance(7 * 24 * time.Hour)
			worker.RunOnce(ctx)
			got, err := svc.Load(ctx, p.OrderID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.Status).To(Equal(aggregate.StatusSuccess))
		})

		It("does not expire an account Toss still shows waiting, and alerts after a grace period", func(ctx SpecContext) {
			p := waiting(ctx)
			now.Advance(7*24*time.Hour + 2*commands.DepositGrace)
			worker.RunOnce(ctx)
			worker.RunOnce(ctx)
			got, err := svc.Load(ctx, p.OrderID)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.Status).To(Equal(aggregate.StatusWaitingForDeposit))
			Expect(svc.Signals().OperatorAlerts).To(Equal(int64(1)))
		})
	})

	Describe("cancels", func() {
		It("close the account before the deposit, refunding nothing", func(ctx SpecContext) {
			p := waiting(ctx)
			got, err := svc.Cancel(ctx, commands.CancelRequest{OrderID: p.OrderID, Reason: "changed my mind"}, meta)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.Status).To(Equal(aggregate.StatusFailure))
			Expect(got.Outcome.Rule).To(Equal(aggregate.RuleAccountClosed))
			Expect(got.Refunds).To(BeEmpty())
			Expect(psp.cancels).To(Equal(1))
		})

		It("of a deposited payment need refundReceiveAccount", func(ctx SpecContext) {
			p := waiting(ctx)
			psp.set(p.OrderID, "DONE")
			now.Advance(7 * 24 * time.Hour)
			did, _, err := svc.CheckDeposit(ctx, p.OrderID, meta)
			Expect(err).NotTo(HaveOccurred())
			Expect(did).To(Equal("recorded deposit"))
			_, err = svc.Cancel(ctx, commands.CancelRequest{OrderID: p.OrderID, Reason: "returned"}, meta)
			var refusal *aggregate.RefundError
			Expect(errors.As(err, &refusal)).To(BeTrue(), "%v", err)
			Expect(refusal.Field).To(Equal("refundReceiveAccount"))

			got, err := svc.Cancel(ctx, commands.CancelRequest{OrderID: p.OrderID, Reason: "returned",
				Account: &aggregate.RefundAccount{Bank: "20", AccountNumber: "1002-123", HolderName: "김토스"}}, meta)
			Expect(err).NotTo(HaveOccurred())
			Expect(got.Refunds).To(HaveLen(1), "with the account the refund is requested")
		})
	})
})

// noneDue is a DueFinder with nothing open for recovery.
type noneDue struct{}

func (noneDue) OpenForRecovery(context.Context, time.Time, int) ([]string, error) { return nil, nil }

var _ = Describe("Webhook inbox events", func() {
	DescribeTable("decode from their golden files and encode back to them",
		func(name string, into any) {
			golden, err := os.ReadFile("../testdata/events/" + name + ".json")
			Expect(err).NotTo(HaveOccurred())
			Expect(json.Unmarshal(golden, into)).To(Succeed())
			again, err := json.Marshal(into)
			Expect(err).NotTo(HaveOccurred())
			Expect(again).To(MatchJSON(golden))
		},
		Entry(commands.NameWebhookReceived, commands.NameWebhookReceived, &commands.WebhookReceived{}),
		Entry(commands.NameWebhookProcessed, commands.NameWebhookProcessed, &commands.WebhookProcessed{}),
	)
})
