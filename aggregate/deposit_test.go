package aggregate_test

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/paystream/paystream/aggregate"
)

var _ = Describe("Decide virtual accounts", func() {
	var (
		due     = t2.Add(7 * 24 * time.Hour)
		account = VirtualAccount{AccountType: "일반", BankCode: "20", AccountNumber: "X6320001254801", HolderName: "김토스",
			DueDate: due, SecretHash: "hmac-sha256:00ff"}
		waitingVerdict = Verdict{Status: StatusWaitingForDeposit, Rule: "toss.v3/waiting-for-deposit", PaymentKey: "pk_1",
			TotalAmount: d("48500"), Method: "VIRTUAL_ACCOUNT", VirtualAccount: &account}
		awaited = DepositAwaited{PaymentKey: "pk_1", TotalAmount: d("48500"), Method: "VIRTUAL_ACCOUNT", VirtualAccount: account,
			Rule: "toss.v3/waiting-for-deposit", At: t2}
		waiting   = []Event{created, started, awaited}
		deposited = Verdict{Status: StatusSuccess, Rule: "toss.v1/lookup-done-matching", PaymentKey: "pk_1",
			TotalAmount: d("48500"), Method: "VIRTUAL_ACCOUNT", ApprovedAt: due.Add(-time.Hour)}
		depositApproved = PspApproved{PaymentKey: "pk_1", TotalAmount: d("48500"), Method: "VIRTUAL_ACCOUNT",
			ApprovedAt: due.Add(-time.Hour), Rule: "toss.v1/lookup-done-matching", At: due.Add(-time.Minute)}
		expired = DepositExpired{DueDate: due, Rule: RuleDepositExpired, PspStatus: "WAITING_FOR_DEPOSIT", At: due.Add(time.Minute)}
		closed  = VirtualAccountClosed{Reason: "changed my mind", Actor: "merchant", Rule: RuleAccountClosed, PspStatus: "CANCELED",
			At: t2.Add(time.Hour)}
	)

	DescribeTable("given history, when command, then events",
		func(given []Event, cmd Command, want []Event) {
			got, err := Decide(Fold(given), cmd)
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(Equal(want))
		},
		Entry("a confirm answered WAITING_FOR_DEPOSIT records the issued account",
			[]Event{created, started}, outcome(waitingVerdict), []Event{awaited}),
		Entry("the deposit found in the PSP's record is an approval like a card's",
			waiting, RecordDeposit{Verdict: deposited, At: due.Add(-time.Minute)}, []Event{depositApproved}),
		Entry("the due date passed and the PSP shows the account expired",
			waiting, ExpireDeposit{PspStatus: "WAITING_FOR_DEPOSIT", At: due.Add(time.Minute)}, []Event{expired}),
		Entry("a cancel before the deposit closes the account",
			waiting, CloseVirtualAccount{Reason: "changed my mind", Actor: "merchant", PspStatus: "CANCELED", At: t2.Add(time.Hour)},
			[]Event{closed}),
		Entry("a recovered payment whose record shows the issued account waits for the deposit",
			[]Event{created, started, unknown, RecoveryAttempted{Attempt: 1, Threshold: 5, Reason: "unknown", At: t2}},
			outcome(waitingVerdict), []Event{awaited}),
	)

	DescribeTable("given history, when command, then refused",
		func(given []Event, cmd Command, want any) {
			_, err := Decide(Fold(given), cmd)
			Expect(err).To(MatchError(want))
		},
		Entry("the raw secret is never recorded",
			[]Event{created, started}, outcome(func() Verdict { v := waitingVerdict; v.DepositSecret = "ps_secret"; return v }()),
			ErrSecretNotSealed),
		Entry("waiting without an account",
			[]Event{created, started}, outcome(func() Verdict { v := waitingVerdict; v.VirtualAccount = nil; return v }()),
			ErrInvalid),
		Entry("an account for another amount",
			[]Event{created, started}, outcome(func() Verdict { v := waitingVerdict; v.TotalAmount = d("1000"); return v }()),
			ErrInvalid),
		Entry("a deposit of another amount",
			waiting, RecordDeposit{Verdict: func() Verdict { v := deposited; v.TotalAmount = d("48000"); return v }(), At: due},
			ErrInvalid),
		Entry("a deposit from a verdict that is not SUCCESS",
			waiting, RecordDeposit{Verdict: Verdict{Status: StatusUnknown}, At: due}, ErrInvalid),
		Entry("a deposit of a card payment", []Event{created, started, approved},
			RecordDeposit{Verdict: deposited, At: due}, ErrNotWaiting),
		Entry("a deposit after the expiry", append(waiting, expired), RecordDeposit{Verdict: deposited, At: due}, ErrNotWaiting),
		Entry("an expiry before the due date", waiting, ExpireDeposit{At: due.Add(-time.Second)}, ErrInvalid),
		Entry("an expiry after the deposit", append(waiting, depositApproved), ExpireDeposit{At: due.Add(time.Hour)}, ErrNotWaiting),
		Entry("closing without a reason", waiting, CloseVirtualAccount{At: t2}, ErrInvalid),
		Entry("closing after the deposit", append(waiting, depositApproved), CloseVirtualAccount{Reason: "x", At: due}, ErrNotWaiting),
		Entry("an operator resolving a payment that waits for its deposit", waiting,
			Resolve{Resolution: StatusFailure, Actor: "op", Reason: "stuck?", PspSays: StatusUnknown, At: due}, ErrNotRecoverable),
		Entry("a refund of a virtual-account payment without refundReceiveAccount", append(waiting, depositApproved),
			RequestRefund{RefundID: "r1", Reason: "returned", PspIdempotencyKey: "cancel-r1", At: due},
			&RefundError{Field: "refundReceiveAccount", Message: "is required to refund a virtual-account payment"}),
		Entry("a refund before the deposit (a cancel closes the account instead)", waiting,
			RequestRefund{RefundID: "r1", Reason: "returned", PspIdempotencyKey: "cancel-r1", At: due}, ErrCannotRefund),
	)

	It("waits for the deposit: neither open for recovery, due for it, terminal nor approved", func() {
		s := Fold(waiting)
		Expect(s.Status).To(Equal(StatusWaitingForDeposit))
		Expect(s.Orders[0].Status).To(Equal(StatusWaitingForDeposit))
		Expect(s.VirtualAccount).To(Equal(&account))
		Expect(s.Open(due.Add(time.Hour))).To(BeFalse())
		Expect(s.DueForRecovery(due.Add(time.Hour), RecoveryPolicy{}.WithDefaults())).To(BeFalse())
		Expect(s.Status.Terminal()).To(BeFalse())
		Expect(s.Status.Approved()).To(BeFalse())
		Expect(s.DepositOverdue(due.Add(-time.Second))).To(BeFalse())
		Expect(s.DepositOverdue(due)).To(BeTrue())
	})

	It("refunds a deposited virtual-account payment into the account the buyer names", func() {
		to := &RefundAccount{Bank: "20", AccountNumber: "1002-123", HolderName: "김토스"}
		got, err := Decide(Fold(append(waiting, depositApproved)),
			RequestRefund{RefundID: "r1", Reason: "returned", Account: to, PspIdempotencyKey: "cancel-r1", At: due})
		Expect(err).NotTo(HaveOccurred())
		Expect(got).To(HaveLen(1))
		Expect(got[0].(RefundRequested).Account).To(Equal(to))
	})

	It("ends an expired or closed account as FAILURE with its rule", func() {
		s := Fold(append(waiting, expired))
		Expect(s.Status).To(Equal(StatusFailure))
		Expect(s.Outcome.Code).To(Equal(CodeDepositExpired))
		s = Fold(append(waiting, closed))
		Expect(s.Status).To(Equal(StatusFailure))
		Expect(s.Outcome.Rule).To(Equal(RuleAccountClosed))
	})

	It("never prints a secret", func() {
		v := waitingVerdict
		v.DepositSecret = "ps_secret_value"
		Expect(fmt.Sprintf("%v %+v %#v", v, v, v)).NotTo(ContainSubstring("ps_secret_value"))
	})
})
