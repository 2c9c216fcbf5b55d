package toss

import (
	"time"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
)

var _ = Describe("virtual accounts (toss.v3 confirm, toss.v2 lookup)", func() {
	executing := commands.Execution{OrderID: "order-0001", PaymentKey: "pk_1", Amount: decimal.NewFromInt(48500)}
	due := time.Date(2026, 12, 2, 23, 59, 59, 0, kst)
	// waiting is Toss's answer to a virtual-account confirm (version 2022-11-16).
	waiting := func(status Status, mod func(map[string]any)) Payment {
		body := map[string]any{"orderId": "order-0001", "paymentKey": "pk_1", "status": string(status), "method": "가상계좌",
			"totalAmount": 48500, "balanceAmount": 48500, "approvedAt": nil, "secret": "ps_secret_123",
			"virtualAccount": map[string]any{"accountType": "일반", "accountNumber": "X6320001254801", "bankCode": "20",
				"customerName": "김토스", "dueDate": "2026-12-02T23:59:59+09:00", "refundStatus": "NONE", "expired": false,
				"settlementStatus": "INCOMPLETED"}}
		if mod != nil {
			mod(body)
		}
		raw, err := json.Marshal(body)
		Expect(err).NotTo(HaveOccurred())
		var p Payment
		Expect(json.Unmarshal(raw, &p)).To(Succeed())
		return p
	}
	account := aggregate.VirtualAccount{AccountType: "일반", BankCode: "20", AccountNumber: "X6320001254801", HolderName: "김토스", DueDate: due}

	It("decides a confirm answered WAITING_FOR_DEPOSIT as its own verdict, with the account and the secret", func() {
		v, transient, lookup := verdictFor(waiting(StatusWaitingForDeposit, nil), nil, executing)
		Expect(v.Status).To(Equal(aggregate.StatusWaitingForDeposit))
		Expect(v.Rule).To(Equal(RuleWaitingForDeposit))
		Expect(transient || lookup).To(BeFalse())
		Expect(v.VirtualAccount).NotTo(BeNil())
		got := *v.VirtualAccount
		Expect(got.DueDate.Equal(due)).To(BeTrue())
		got.DueDate = due
		Expect(got).To(Equal(account))
		Expect(v.DepositSecret.Reveal()).To(Equal("ps_secret_123"))
		Expect(v.Method).To(Equal("VIRTUAL_ACCOUNT"))
		Expect(string(v.Evidence)).NotTo(ContainSubstring("ps_secret_123"))
		Expect(string(v.Evidence)).NotTo(ContainSubstring("X6320001254801"))
	})

	DescribeTable("a WAITING_FOR_DEPOSIT answer that is not an open account for the execution stays UNKNOWN",
		func(mod func(map[string]any)) {
			v, _, _ := verdictFor(waiting(StatusWaitingForDeposit, mod), nil, executing)
			Expect(v.Status).To(Equal(aggregate.StatusUnknown))
			Expect(v.VirtualAccount).To(BeNil())
		},
		Entry("no virtualAccount", func(b map[string]any) { delete(b, "virtualAccount") }),
		Entry("no due date", func(b map[string]any) { b["virtualAccount"].(map[string]any)["dueDate"] = "" }),
		Entry("expired already", func(b map[string]any) { b["virtualAccount"].(map[string]any)["expired"] = true }),
		Entry("another amount", func(b map[string]any) { b["totalAmount"] = 1000 }),
		Entry("another order", func(b map[string]any) { b["orderId"] = "order-0002" }),
	)

	It("reads a due date without an offset in KST", func() {
		t, err := parseTossTime("2026-12-02T23:59:59")
		Expect(err).NotTo(HaveOccurred())
		Expect(t.Equal(due)).To(BeTrue())
	})

	DescribeTable("lookups of a virtual-account payment",
		func(p Payment, decided bool, status aggregate.Status, rule string) {
			rec := judgeRecord(p, executing)
			Expect(rec.Decided).To(Equal(decided))
			if decided {
				Expect(rec.Verdict.Status).To(Equal(status))
				Expect(rec.Verdict.Rule).To(Equal(rule))
			}
		},
		Entry("still waiting: the account", waiting(StatusWaitingForDeposit, nil), true, aggregate.StatusWaitingForDeposit, RuleLookupWaiting),
		Entry("expired at Toss: not paid", waiting(StatusWaitingForDeposit, func(b map[string]any) {
			b["virtualAccount"].(map[string]any)["expired"] = true
		}), true, aggregate.StatusFailure, RuleLookupDepositExpired),
		Entry("deposited: DONE as executed", waiting(StatusDone, func(b map[string]any) { b["approvedAt"] = "2026-11-26T10:00:00+09:00" }),
			true, aggregate.StatusSuccess, RuleLookupDone),
		Entry("cancelled before the deposit: not paid", waiting(StatusCanceled, nil), true, aggregate.StatusFailure, RuleLookupClosedUnpaid),
		Entry("cancelled after the deposit: refunded, an operator looks", waiting(StatusCanceled, func(b map[string]any) {
			b["approvedAt"] = "2026-11-26T10:00:00+09:00"
		}), true, aggregate.StatusUnknown, RuleLookupRefunded),
		Entry("EXPIRED: not paid", waiting(StatusExpired, nil), true, aggregate.StatusFailure, RuleLookupNotPaid),
	)

	It("names the lookup table version in every lookup rule", func() {
		for _, r := range []string{RuleLookupDone, RuleLookupNotPaid, RuleLookupMismatch, RuleLookupRefunded, RuleLookupWaiting,
			RuleLookupDepositExpired, RuleLookupClosedUnpaid} {
			Expect(r).To(HavePrefix("toss.v2/lookup-"))
		}
	})
})
