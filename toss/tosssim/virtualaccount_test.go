package tosssim_test

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/toss"
	"github.com/paystream/paystream/toss/tosssim"
)

var _ = forEachStorage("virtual accounts (가상계좌)", func(_ storage) {
	var h *harness

	BeforeEach(func() { h = newHarness(tosssim.Options{}) })

	// issued confirms a virtual-account session of orderID and returns the confirm's answer.
	issued := func(ctx context.Context, orderID string, amount int, extra string, headers ...string) reply {
		GinkgoHelper()
		r := h.send(ctx, "POST", "/sim/v1/sessions", `{"orderId":"`+orderID+`","amount":`+strconv.Itoa(amount)+`,"method":"가상계좌"`+extra+`}`)
		Expect(r.status).To(Equal(http.StatusCreated), "%s", r.raw)
		key := r.json["paymentKey"].(string)
		return h.send(ctx, "POST", "/v1/payments/confirm", `{"paymentKey":"`+key+`","orderId":"`+orderID+`","amount":`+strconv.Itoa(amount)+`}`, headers...)
	}
	deposit := func(ctx context.Context, key string, amount int) reply {
		return h.send(ctx, "POST", "/sim/v1/payments/"+key+"/deposit", `{"amount":`+strconv.Itoa(amount)+`}`)
	}
	account := func(r reply) map[string]any {
		GinkgoHelper()
		va, ok := r.json["virtualAccount"].(map[string]any)
		Expect(ok).To(BeTrue(), "no virtualAccount in %s", r.raw)
		return va
	}

	Describe("the confirm", func() {
		It("issues an account waiting for the deposit, in Toss's 2022-11-16 shape, and captures nothing", func(ctx SpecContext) {
			r := issued(ctx, "order-va-01", 48500, "")
			Expect(r.status).To(Equal(http.StatusOK), "%s", r.raw)
			Expect(r.json).To(HaveKeyWithValue("status", "WAITING_FOR_DEPOSIT"))
			Expect(r.json).To(HaveKeyWithValue("method", "가상계좌"))
			Expect(r.json).To(HaveKeyWithValue("approvedAt", BeNil()))
			Expect(r.json).To(HaveKeyWithValue("lastTransactionKey", Not(BeEmpty())))
			Expect(r.json).To(HaveKeyWithValue("secret", HavePrefix("ps_")))
			va := account(r)
			Expect(va).To(HaveKeyWithValue("accountType", "일반"))
			Expect(va).To(HaveKeyWithValue("accountNumber", MatchRegexp(`^[0-9]{14}$`)))
			Expect(va).To(HaveKeyWithValue("bankCode", "20"))
			Expect(va).To(HaveKeyWithValue("customerName", "구매자"))
			Expect(va).To(HaveKeyWithValue("dueDate", "2026-03-11T14:06:07+09:00")) // 7 days after the confirm
			Expect(va).To(HaveKeyWithValue("refundStatus", "NONE"))
			Expect(va).To(HaveKeyWithValue("expired", false))
			Expect(va).To(HaveKeyWithValue("settlementStatus", "INCOMPLETED"))
			Expect(h.sim.Approvals("order-va-01")).To(BeZero())
			Expect(h.sim.Stats().AccountsIssued).To(BeEquivalentTo(1))

			By("decoding into toss.Payment with the account and the secret")
			p, ok := h.sim.Payment("order-va-01")
			Expect(ok).To(BeTrue())
			Expect(p.Status).To(Equal(toss.StatusWaitingForDeposit))
			Expect(p.ApprovedAt).To(BeNil())
			Expect(p.Secret).To(Equal(r.json["secret"]))
			Expect(p.VirtualAccount).NotTo(BeNil())
			Expect(p.VirtualAccount.AccountNumber).To(Equal(va["accountNumber"]))
			Expect(p.VirtualAccount.AccountType).To(Equal("NORMAL"))
			Expect(p.VirtualAccount.DueDate.Equal(time.Date(2026, 3, 11, 5, 6, 7, 0, time.UTC))).To(BeTrue())
		})

		It("takes the due date, holder and bank the buyer chose, and speaks English when asked", func(ctx SpecContext) {
			r := issued(ctx, "order-va-02", 10000, `,"validHours":24,"customerName":"김토스","bank":"88"`, "Accept-Language", "en-US")
			Expect(r.status).To(Equal(http.StatusOK), "%s", r.raw)
			Expect(r.json).To(HaveKeyWithValue("method", "VIRTUAL_ACCOUNT"))
			va := account(r)
			Expect(va).To(HaveKeyWithValue("accountType", "NORMAL"))
			Expect(va).To(HaveKeyWithValue("dueDate", "2026-03-05T14:06:07+09:00"))
			Expect(va).To(HaveKeyWithValue("customerName", "김토스"))
			Expect(va).To(HaveKeyWithValue("bankCode", "88"))
		})

		It("refuses a due date beyond Toss's 30 days", func(ctx SpecContext) {
			r := h.send(ctx, "POST", "/sim/v1/sessions", `{"orderId":"order-va-03","amount":10000,"method":"가상계좌","validHours":721}`)
			Expect(r.status).To(Equal(http.StatusBadRequest))
			Expect(r.code()).To(Equal("INVALID_REQUEST"))
		})

		It("gives other methods no account and no secret (null)", func(ctx SpecContext) {
			h.approved(ctx, "order-card-01", 10000, "")
			r := h.send(ctx, "GET", "/v1/payments/orders/order-card-01", "")
			Expect(r.json).To(HaveKeyWithValue("virtualAccount", BeNil()))
			Expect(r.json).To(HaveKeyWithValue("secret", BeNil()))
		})

		It("is processed once: a second confirm or a new session of the order is refused", func(ctx SpecContext) {
			r := issued(ctx, "order-va-04", 10000, "")
			key := r.json["paymentKey"].(string)
			again := h.send(ctx, "POST", "/v1/payments/confirm", `{"paymentKey":"`+key+`","orderId":"order-va-04","amount":10000}`)
			Expect(again.code()).To(Equal("ALREADY_PROCESSED_PAYMENT"))
			s := h.send(ctx, "POST", "/sim/v1/sessions", `{"orderId":"order-va-04","amount":10000}`)
			Expect(s.status).To(Equal(http.StatusConflict))
			Expect(s.code()).To(Equal("ALREADY_PROCESSED_PAYMENT"))
		})
	})

	Describe("the deposit", func() {
		var key string
		BeforeEach(func(ctx SpecContext) {
			r := issued(ctx, "order-va-10", 48500, "")
			Expect(r.status).To(Equal(http.StatusOK))
			key = r.json["paymentKey"].(string)
		})

		It("of the right amount makes the payment DONE, approved now, with a new transaction", func(ctx SpecContext) {
			before := h.send(ctx, "GET", "/v1/payments/"+key, "")
			h.now.Advance(2 * time.Hour)
			r := deposit(ctx, key, 48500)
			Expect(r.status).To(Equal(http.StatusOK), "%s", r.raw)
			Expect(r.json).To(HaveKeyWithValue("status", "DONE"))
			Expect(r.json).To(HaveKeyWithValue("approvedAt", "2026-03-04T16:06:07+09:00"))
			Expect(r.json["lastTransactionKey"]).NotTo(Equal(before.json["lastTransactionKey"]))
			Expect(r.json["secret"]).To(Equal(before.json["secret"]))
			Expect(h.send(ctx, "GET", "/v1/payments/"+key, "").json).To(HaveKeyWithValue("status", "DONE"))
			Expect(h.sim.Approvals("order-va-10")).To(Equal(1))
			Expect(h.sim.Stats().Deposits).To(BeEquivalentTo(1))

			By("refusing a second deposit: the account no longer waits")
			r = deposit(ctx, key, 48500)
			Expect(r.status).To(Equal(http.StatusConflict))
			Expect(r.code()).To(Equal("NOT_WAITING_FOR_DEPOSIT"))
			Expect(h.sim.Approvals("order-va-10")).To(Equal(1))
		})

		DescribeTable("of another amount is refused, as Toss's banks refuse it, and the account keeps waiting",
			func(ctx SpecContext, amount int) {
				r := deposit(ctx, key, amount)
				Expect(r.status).To(Equal(http.StatusBadRequest))
				Expect(r.code()).To(Equal("DEPOSIT_AMOUNT_MISMATCH"))
				Expect(h.send(ctx, "GET", "/v1/payments/"+key, "").json).To(HaveKeyWithValue("status", "WAITING_FOR_DEPOSIT"))
				Expect(h.sim.Approvals("order-va-10")).To(BeZero())
				Expect(h.sim.Stats().DepositsRefused).To(BeEquivalentTo(1))
				Expect(deposit(ctx, key, 48500).status).To(Equal(http.StatusOK))
			},
			Entry("too little", 48000),
			Entry("too much", 50000),
		)

		It("after the due date is refused; the payment stays WAITING_FOR_DEPOSIT with expired true", func(ctx SpecContext) {
			h.now.Advance(7*24*time.Hour - time.Second)
			Expect(account(h.send(ctx, "GET", "/v1/payments/"+key, ""))).To(HaveKeyWithValue("expired", false))
			h.now.Advance(time.Second)
			r := deposit(ctx, key, 48500)
			Expect(r.status).To(Equal(http.StatusForbidden))
			Expect(r.code()).To(Equal("VIRTUAL_ACCOUNT_EXPIRED"))
			r = h.send(ctx, "GET", "/v1/payments/"+key, "")
			Expect(r.json).To(HaveKeyWithValue("status", "WAITING_FOR_DEPOSIT"))
			Expect(account(r)).To(HaveKeyWithValue("expired", true))
			p, _ := h.sim.Payment("order-va-10")
			Expect(p.VirtualAccount.Expired).To(BeTrue())
			Expect(h.sim.Approvals("order-va-10")).To(BeZero())
		})

		It("is refused for a payment by another method, an unknown key or a malformed amount", func(ctx SpecContext) {
			card := h.approved(ctx, "order-card-10", 10000, "")
			r := deposit(ctx, card, 10000)
			Expect(r.status).To(Equal(http.StatusBadRequest))
			Expect(r.code()).To(Equal("INVALID_REQUEST"))
			r = deposit(ctx, "tgen_unknown", 10000)
			Expect(r.status).To(Equal(http.StatusNotFound))
			Expect(r.code()).To(Equal("NOT_FOUND_PAYMENT"))
			r = h.send(ctx, "POST", "/sim/v1/payments/"+key+"/deposit", `{"amount":"48500"}`)
			Expect(r.status).To(Equal(http.StatusBadRequest))
			Expect(r.code()).To(Equal("INVALID_REQUEST"))
		})

		It("is in Go too, with Toss's errors", func() {
			_, err := h.sim.Deposit(key, decimal.NewFromInt(1))
			Expect(err).To(MatchError(ContainSubstring("DEPOSIT_AMOUNT_MISMATCH")))
			p, err := h.sim.Deposit(key, decimal.NewFromInt(48500))
			Expect(err).NotTo(HaveOccurred())
			Expect(p.Status).To(Equal(toss.StatusDone))
			Expect(p.ApprovedAt).NotTo(BeNil())
		})
	})

	Describe("a deposit error after DONE", func() {
		var key string
		BeforeEach(func(ctx SpecContext) {
			key = issued(ctx, "order-va-20", 30000, "").json["paymentKey"].(string)
		})

		It("puts the payment back to WAITING_FOR_DEPOSIT, unapproved, until the buyer deposits again", func(ctx SpecContext) {
			done := deposit(ctx, key, 30000)
			Expect(done.status).To(Equal(http.StatusOK))
			h.now.Advance(time.Hour)
			r := h.send(ctx, "POST", "/sim/v1/payments/"+key+"/deposit-error", "")
			Expect(r.status).To(Equal(http.StatusOK), "%s", r.raw)
			Expect(r.json).To(HaveKeyWithValue("status", "WAITING_FOR_DEPOSIT"))
			Expect(r.json).To(HaveKeyWithValue("approvedAt", BeNil()))
			Expect(r.json["lastTransactionKey"]).NotTo(Equal(done.json["lastTransactionKey"]))
			Expect(account(r)).To(HaveKeyWithValue("expired", false))
			Expect(h.sim.Approvals("order-va-20")).To(BeZero())
			Expect(h.sim.Stats().DepositErrors).To(BeEquivalentTo(1))

			Expect(deposit(ctx, key, 30000).json).To(HaveKeyWithValue("status", "DONE"))
			Expect(h.sim.Approvals("order-va-20")).To(Equal(1))
		})

		It("is refused while nothing was deposited, in Go as over HTTP", func(ctx SpecContext) {
			r := h.send(ctx, "POST", "/sim/v1/payments/"+key+"/deposit-error", "")
			Expect(r.status).To(Equal(http.StatusConflict))
			Expect(r.code()).To(Equal("NOT_DEPOSITED"))
			_, err := h.sim.FailDeposit(key)
			Expect(err).To(MatchError(ContainSubstring("NOT_DEPOSITED")))
			_, err = h.sim.Deposit(key, decimal.NewFromInt(30000))
			Expect(err).NotTo(HaveOccurred())
			p, err := h.sim.FailDeposit(key)
			Expect(err).NotTo(HaveOccurred())
			Expect(p.Status).To(Equal(toss.StatusWaitingForDeposit))
		})
	})

	Describe("a cancel", func() {
		var key string
		BeforeEach(func(ctx SpecContext) {
			key = issued(ctx, "order-va-30", 20000, "").json["paymentKey"].(string)
		})
		cancel := func(ctx context.Context, body string) reply {
			return h.send(ctx, "POST", "/v1/payments/"+key+"/cancel", body)
		}

		It("before the deposit closes the account in full, without a refund account, and no deposit is taken after", func(ctx SpecContext) {
			r := cancel(ctx, `{"cancelReason":"r","cancelAmount":5000}`)
			Expect(r.status).To(Equal(http.StatusForbidden))
			Expect(r.code()).To(Equal("NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT"))
			h.now.Advance(2 * time.Second)
			r = cancel(ctx, `{"cancelReason":"the buyer changed their mind"}`)
			Expect(r.status).To(Equal(http.StatusOK), "%s", r.raw)
			Expect(r.json).To(HaveKeyWithValue("status", "CANCELED"))
			Expect(r.json).To(HaveKeyWithValue("balanceAmount", json.Number("0")))
			Expect(r.json).To(HaveKeyWithValue("approvedAt", BeNil()))
			Expect(account(r)).To(HaveKeyWithValue("refundStatus", "NONE"))
			Expect(deposit(ctx, key, 20000).code()).To(Equal("NOT_WAITING_FOR_DEPOSIT"))
		})

		It("after the deposit refunds to the account given", func(ctx SpecContext) {
			Expect(deposit(ctx, key, 20000).status).To(Equal(http.StatusOK))
			r := cancel(ctx, `{"cancelReason":"r","refundReceiveAccount":{"bank":"88","accountNumber":"11012345678","holderName":"홍길동"}}`)
			Expect(r.status).To(Equal(http.StatusOK), "%s", r.raw)
			Expect(r.json).To(HaveKeyWithValue("status", "CANCELED"))
			Expect(account(r)).To(HaveKeyWithValue("refundStatus", "COMPLETED"))
		})
	})
})
