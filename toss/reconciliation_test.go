package toss_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/toss"
	"github.com/paystream/paystream/toss/tosssim"
)

var _ = Describe("Transactions and settlements against the simulator", func() {
	var (
		now    *clock
		sim    *tosssim.Simulator
		server *httptest.Server
		client *toss.Client
		day    time.Time // the KST day of the clock's start: Friday 2026-01-02
	)

	BeforeEach(func() {
		now = newClock() // 2026-01-02 12:04:05 KST
		sim = tosssim.New(tosssim.Options{SecretKeys: []string{string(testKey)}, Now: now.Now, Seed: 1})
		server = httptest.NewServer(sim)
		DeferCleanup(server.Close)
		client = toss.NewClient(server.URL, testKey)
		day = time.Date(2026, 1, 2, 0, 0, 0, 0, toss.KST)
	})

	pay := func(ctx SpecContext, orderID string, amount int64) toss.Payment {
		GinkgoHelper()
		key, err := sim.CreateSession(orderID, krw(amount))
		Expect(err).NotTo(HaveOccurred())
		p, err := client.Confirm(ctx, toss.ConfirmRequest{PaymentKey: key, OrderID: orderID, Amount: krw(amount)}, "")
		Expect(err).NotTo(HaveOccurred())
		return p
	}
	wholeDay := func() (time.Time, time.Time) { return day, day.AddDate(0, 0, 1).Add(-time.Second) }

	It("lists each approval and cancel once, with its transactionKey, in time order", func(ctx SpecContext) {
		p := pay(ctx, "order-tx-1", 30000)
		approvalKey := p.LastTransactionKey
		now.Advance(time.Minute)
		amount := krw(10000)
		canceled, err := client.Cancel(ctx, p.PaymentKey, toss.CancelRequest{Reason: "size", Amount: &amount}, "c1")
		Expect(err).NotTo(HaveOccurred())
		now.Advance(time.Minute)
		_, err = sim.ConsoleCancel(p.PaymentKey, nil, "card company")
		Expect(err).NotTo(HaveOccurred())

		from, to := wholeDay()
		txs, err := client.Transactions(ctx, toss.TransactionQuery{Start: from, End: to})
		Expect(err).NotTo(HaveOccurred())
		Expect(txs).To(HaveLen(3))
		Expect(txs[0].TransactionKey).To(Equal(approvalKey))
		Expect(txs[0].Status).To(Equal(toss.StatusDone))
		Expect(txs[0].Amount.Equal(krw(30000))).To(BeTrue())
		Expect(txs[0].Method).To(Equal(toss.MethodCard), "Korean 카드 normalised")
		Expect(txs[0].PaymentKey).To(Equal(p.PaymentKey))
		Expect(txs[0].OrderID).To(Equal("order-tx-1"))
		Expect(txs[1].TransactionKey).To(Equal(canceled.Cancels[0].TransactionKey))
		Expect(txs[1].Status).To(Equal(toss.StatusPartialCanceled))
		Expect(txs[1].Amount.Equal(krw(10000))).To(BeTrue())
		Expect(txs[2].Status).To(Equal(toss.StatusCanceled), "the console cancel is a transaction too")
		Expect(txs[2].Amount.Equal(krw(20000))).To(BeTrue())
		Expect(txs[2].TransactionAt.Equal(now.Now())).To(BeTrue())
		Expect(sim.Transactions("order-tx-1")).To(HaveLen(3))
	})

	It("pages by cursor and keeps to the date range", func(ctx SpecContext) {
		for _, id := range []string{"order-pg-1", "order-pg-2", "order-pg-3", "order-pg-4", "order-pg-5"} {
			pay(ctx, id, 1000)
			now.Advance(time.Second)
		}
		now.Advance(24 * time.Hour)
		pay(ctx, "order-pg-next-day", 1000)
		from, to := wholeDay()
		first, err := client.Transactions(ctx, toss.TransactionQuery{Start: from, End: to, Limit: 2})
		Expect(err).NotTo(HaveOccurred())
		Expect(first).To(HaveLen(2))
		second, err := client.Transactions(ctx, toss.TransactionQuery{Start: from, End: to, Limit: 2, StartingAfter: first[1].TransactionKey})
		Expect(err).NotTo(HaveOccurred())
		Expect(second).To(HaveLen(2))
		Expect(second[0].OrderID).To(Equal("order-pg-3"))
		var pages []int
		all, err := client.AllTransactions(ctx, from, to, 2, func(n int) { pages = append(pages, n) })
		Expect(err).NotTo(HaveOccurred())
		Expect(all).To(HaveLen(5), "not the next day's")
		Expect(pages).To(Equal([]int{2, 4, 5}))
	})

	It("refuses a malformed range with 400 INVALID_REQUEST and authenticates like every endpoint", func(ctx SpecContext) {
		_, err := client.Transactions(ctx, toss.TransactionQuery{Start: day, End: day.Add(-time.Hour)})
		Expect(apiError(err).Code).To(Equal("INVALID_REQUEST"))
		_, err = toss.NewClient(server.URL, "test_sk_wrong").Transactions(ctx, toss.TransactionQuery{Start: day, End: day})
		Expect(apiError(err).HTTPStatus).To(Equal(http.StatusUnauthorized))
	})

	It("settles by the fee contract: 3.4% card fee truncated, 10% VAT on it, paid out two business days later", func(ctx SpecContext) {
		p := pay(ctx, "order-st-1", 48500)
		amount := krw(8500)
		_, err := client.Cancel(ctx, p.PaymentKey, toss.CancelRequest{Reason: "one item", Amount: &amount}, "c")
		Expect(err).NotTo(HaveOccurred())

		rows, err := client.Settlements(ctx, toss.SettlementQuery{Start: day, End: day})
		Expect(err).NotTo(HaveOccurred())
		Expect(rows).To(HaveLen(2))
		sale := rows[0]
		Expect(sale.Amount.String()).To(Equal("48500"))
		Expect(sale.SupplyAmount.String()).To(Equal("1649"), "48500 × 3.4% = 1649")
		Expect(sale.VAT.String()).To(Equal("164"))
		Expect(sale.PayOutAmount.String()).To(Equal("46687"))
		Expect(sale.Fees).To(ConsistOf(toss.SettlementFee{Type: "BASE", Fee: krw(1649)}))
		Expect(sale.SoldDate.Equal(day)).To(BeTrue())
		Expect(sale.PaidOutDate.Equal(time.Date(2026, 1, 6, 0, 0, 0, 0, toss.KST))).To(BeTrue(), "Friday + 2 business days = Tuesday")
		Expect(sale.Cancel).To(BeNil())
		Expect(sale.ApprovedAt.Equal(now.Now())).To(BeTrue())

		refund := rows[1]
		Expect(refund.Amount.String()).To(Equal("-8500"))
		Expect(refund.SupplyAmount.String()).To(Equal("-289"), "the fee on the cancelled part is given back")
		Expect(refund.VAT.String()).To(Equal("-28"))
		Expect(refund.PayOutAmount.String()).To(Equal("-8183"))
		Expect(refund.Cancel).NotTo(BeNil())
		Expect(refund.Cancel.CancelAmount.String()).To(Equal("8500"))
		for _, r := range rows {
			Expect(r.PayOutAmount.Add(r.SupplyAmount).Add(r.VAT).Add(r.InterestFee).Equal(r.Amount)).To(BeTrue())
		}

		paid, err := client.AllSettlements(ctx, time.Date(2026, 1, 6, 0, 0, 0, 0, toss.KST), time.Date(2026, 1, 6, 0, 0, 0, 0, toss.KST), toss.PaidOutDate, 1, nil)
		Expect(err).NotTo(HaveOccurred())
		Expect(paid).To(HaveLen(2), "by payout date, a page of one at a time")
	})

	It("charges a virtual account's deposit a fixed 400 KRW, paid out the next business day", func(ctx SpecContext) {
		key, err := sim.CreateSessionFor(tosssim.SessionRequest{OrderID: "order-va-1", Amount: krw(20000), Method: toss.MethodVirtualAccount})
		Expect(err).NotTo(HaveOccurred())
		_, err = client.Confirm(ctx, toss.ConfirmRequest{PaymentKey: key, OrderID: "order-va-1", Amount: krw(20000)}, "")
		Expect(err).NotTo(HaveOccurred())
		from, to := wholeDay()
		txs, err := client.Transactions(ctx, toss.TransactionQuery{Start: from, End: to})
		Expect(err).NotTo(HaveOccurred())
		Expect(txs).To(BeEmpty(), "issuing the account moves no money")
		_, err = sim.Deposit(key, krw(20000))
		Expect(err).NotTo(HaveOccurred())
		rows, err := client.Settlements(ctx, toss.SettlementQuery{Start: day, End: day})
		Expect(err).NotTo(HaveOccurred())
		Expect(rows).To(HaveLen(1))
		Expect(rows[0].SupplyAmount.String()).To(Equal("400"))
		Expect(rows[0].VAT.String()).To(Equal("40"))
		Expect(rows[0].PayOutAmount.String()).To(Equal("19560"))
		Expect(rows[0].PaidOutDate.Equal(time.Date(2026, 1, 5, 0, 0, 0, 0, toss.KST))).To(BeTrue(), "Friday + 1 business day = Monday")
	})

	It("disagrees on purpose: a changed amount, a hidden transaction, another payout", func(ctx SpecContext) {
		a := pay(ctx, "order-alt-1", 10000)
		b := pay(ctx, "order-alt-2", 20000)
		changed := decimal.NewFromInt(9000)
		Expect(sim.AlterTransaction(a.LastTransactionKey, tosssim.Alteration{Amount: &changed})).To(Succeed())
		payOut := decimal.NewFromInt(1)
		Expect(sim.AlterTransaction(b.LastTransactionKey, tosssim.Alteration{PayOutAmount: &payOut})).To(Succeed())
		Expect(sim.AlterTransaction("no-such-key", tosssim.Alteration{Hidden: true})).To(MatchError(tosssim.ErrNoTransaction))

		from, to := wholeDay()
		txs, err := client.Transactions(ctx, toss.TransactionQuery{Start: from, End: to})
		Expect(err).NotTo(HaveOccurred())
		Expect(txs[0].Amount.String()).To(Equal("9000"))
		rows, err := client.Settlements(ctx, toss.SettlementQuery{Start: day, End: day})
		Expect(err).NotTo(HaveOccurred())
		Expect(rows[0].Amount.String()).To(Equal("9000"), "the settlement follows the transaction")
		Expect(rows[1].PayOutAmount.String()).To(Equal("1"))

		req, _ := http.NewRequestWithContext(ctx, http.MethodPatch, server.URL+"/sim/v1/transactions/"+b.LastTransactionKey, strings.NewReader(`{"hidden":true}`))
		resp, err := http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusOK))
		txs, err = client.Transactions(ctx, toss.TransactionQuery{Start: from, End: to})
		Expect(err).NotTo(HaveOccurred())
		Expect(txs).To(HaveLen(1), "Toss no longer lists it")
		_, found := sim.Payment("order-alt-2")
		Expect(found).To(BeTrue(), "while a lookup still finds the payment")
	})

	It("makes a withdrawn deposit a transaction of its own", func(ctx SpecContext) {
		key, err := sim.CreateSessionFor(tosssim.SessionRequest{OrderID: "order-va-2", Amount: krw(20000), Method: toss.MethodVirtualAccount})
		Expect(err).NotTo(HaveOccurred())
		_, err = client.Confirm(ctx, toss.ConfirmRequest{PaymentKey: key, OrderID: "order-va-2", Amount: krw(20000)}, "")
		Expect(err).NotTo(HaveOccurred())
		_, err = sim.Deposit(key, krw(20000))
		Expect(err).NotTo(HaveOccurred())
		_, err = sim.FailDeposit(key)
		Expect(err).NotTo(HaveOccurred())
		txs := sim.Transactions("order-va-2")
		Expect(txs).To(HaveLen(2))
		Expect(txs[1].Status).To(Equal(toss.StatusWaitingForDeposit))
		rows, err := client.Settlements(ctx, toss.SettlementQuery{Start: day, End: day})
		Expect(err).NotTo(HaveOccurred())
		Expect(rows[0].Amount.Add(rows[1].Amount).IsZero()).To(BeTrue())
		Expect(rows[0].PayOutAmount.Add(rows[1].PayOutAmount).IsZero()).To(BeTrue())
	})
})
