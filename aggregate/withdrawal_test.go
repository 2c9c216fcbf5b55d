package aggregate_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/paystream/paystream/aggregate"
)

var _ = Describe("Decide deposit errors", func() {
	var (
		due     = t2.Add(7 * 24 * time.Hour)
		account = VirtualAccount{AccountType: "일반", BankCode: "20", AccountNumber: "X6320001254801", HolderName: "김토스",
			DueDate: due, SecretHash: "hmac-sha256:00ff"}
		awaited = DepositAwaited{PaymentKey: "pk_1", TotalAmount: d("48500"), Method: "VIRTUAL_ACCOUNT", VirtualAccount: account,
			Rule: "toss.v3/waiting-for-deposit", At: t2}
		depositAt = t2.Add(time.Hour)
		deposit   = PspApproved{PaymentKey: "pk_1", TotalAmount: d("48500"), Method: "VIRTUAL_ACCOUNT", ApprovedAt: depositAt,
			Rule: "toss.v1/lookup-done-matching", At: depositAt}
		errorAt   = depositAt.Add(time.Hour)
		deposited = []Event{created, started, awaited, deposit, LedgerUpdated{Orders: []int{1, 2}, MessageID: "l1", At: depositAt},
			WalletUpdated{Orders: []int{1, 2}, MessageID: "w1", At: depositAt}, PaymentCompleted{At: depositAt}}
		split     = []RefundSplit{{Seq: 1, Amount: d("36000")}, {Seq: 2, Amount: d("12500")}}
		withdrawn = DepositWithdrawn{WithdrawalID: "order-0001-w1", Amount: d("48500"), Orders: split, ApprovedAt: depositAt,
			Rule: RuleDepositWithdrawn, PspStatus: "WAITING_FOR_DEPOSIT", At: errorAt}
		withdraw = WithdrawDeposit{PspStatus: "WAITING_FOR_DEPOSIT", At: errorAt}
		later    = due.Add(24 * time.Hour)
		moved    = VirtualAccount{AccountType: "일반", BankCode: "20", AccountNumber: "X6320001254801", HolderName: "김토스", DueDate: later}
	)

	DescribeTable("given history, when command, then events",
		func(given []Event, cmd Command, want []Event) {
			got, err := Decide(Fold(given), cmd)
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(Equal(want))
		},
		Entry("Toss's record back at WAITING_FOR_DEPOSIT withdraws the approval, whole, split over the orders",
			deposited, withdraw, []Event{withdrawn}),
		Entry("before downstream booked it too", []Event{created, started, awaited, deposit}, withdraw, []Event{withdrawn}),
		Entry("an account the record shows with a new due date is kept with the secret it was issued with",
			deposited, WithdrawDeposit{PspStatus: "WAITING_FOR_DEPOSIT", VirtualAccount: &moved, At: errorAt},
			[]Event{func() DepositWithdrawn {
				w := withdrawn
				va := moved
				va.SecretHash = account.SecretHash
				w.VirtualAccount = &va
				return w
			}()}),
		Entry("the second withdrawal after a second deposit has its own id",
			append(append(deposited, withdrawn), deposit), withdraw,
			[]Event{func() DepositWithdrawn { w := withdrawn; w.WithdrawalID = "order-0001-w2"; return w }()}),
		Entry("the ledger takes the withdrawal back", append(deposited, withdrawn),
			RecordWithdrawalBooked{WithdrawalID: "order-0001-w1", By: "ledger", MessageID: "lw1", At: errorAt},
			[]Event{WithdrawalBooked{WithdrawalID: "order-0001-w1", By: "ledger", MessageID: "lw1", At: errorAt}}),
		Entry("a repeated booking is a no-op",
			append(deposited, withdrawn, WithdrawalBooked{WithdrawalID: "order-0001-w1", By: "wallet", MessageID: "ww1", At: errorAt}),
			RecordWithdrawalBooked{WithdrawalID: "order-0001-w1", By: "wallet", MessageID: "ww1", At: errorAt}, []Event(nil)),
		Entry("the next deposit is a fresh approval", append(deposited, withdrawn),
			RecordDeposit{Verdict: Verdict{Status: StatusSuccess, Rule: "toss.v1/lookup-done-matching", PaymentKey: "pk_1",
				TotalAmount: d("48500"), Method: "VIRTUAL_ACCOUNT", ApprovedAt: errorAt.Add(time.Hour)}, At: errorAt.Add(time.Hour)},
			[]Event{PspApproved{PaymentKey: "pk_1", TotalAmount: d("48500"), Method: "VIRTUAL_ACCOUNT", ApprovedAt: errorAt.Add(time.Hour),
				Rule: "toss.v1/lookup-done-matching", At: errorAt.Add(time.Hour)}}),
		Entry("and its downstream completion completes the payment again",
			append(deposited, withdrawn, deposit, LedgerUpdated{Orders: []int{1, 2}, MessageID: "l2", At: errorAt}),
			RecordWalletUpdated{Orders: []int{1, 2}, MessageID: "w2", At: errorAt},
			[]Event{WalletUpdated{Orders: []int{1, 2}, MessageID: "w2", At: errorAt}, PaymentCompleted{At: errorAt}}),
		Entry("a withdrawn account past its due date expires like one never paid", append(deposited, withdrawn),
			ExpireDeposit{PspStatus: "WAITING_FOR_DEPOSIT", At: due.Add(time.Minute)},
			[]Event{DepositExpired{DueDate: due, Rule: RuleDepositExpired, PspStatus: "WAITING_FOR_DEPOSIT", At: due.Add(time.Minute)}}),
	)

	DescribeTable("given history, when command, then refused",
		func(given []Event, cmd Command, want any) {
			_, err := Decide(Fold(given), cmd)
			Expect(err).To(MatchError(want))
		},
		Entry("a card payment", []Event{created, started, approved}, withdraw, ErrNotDeposited),
		Entry("a payment still waiting (withdrawn already)", append(deposited, withdrawn), withdraw, ErrNotDeposited),
		Entry("a payment waiting for its first deposit", []Event{created, started, awaited}, withdraw, ErrNotDeposited),
		Entry("an expired account", []Event{created, started, awaited,
			DepositExpired{DueDate: due, Rule: RuleDepositExpired, At: due}}, withdraw, ErrNotDeposited),
		Entry("no payment", nil, withdraw, ErrNotFound),
		Entry("a payment refunded in part: an operator settles it",
			append(deposited, RefundRequested{RefundID: "r1", Amount: d("12500"), Orders: []RefundSplit{{Seq: 2, Amount: d("12500")}},
				Reason: "mug", PspIdempotencyKey: "cancel-r1", At: depositAt},
				RefundApproved{RefundID: "r1", TransactionKey: "tx1", Rule: "toss.cancel.v1/done", At: depositAt}),
			withdraw, ErrWithdrawnAfterRefund),
		Entry("a payment refunded in full",
			append(deposited, ExternalRefundRecorded{RefundID: "x1", TransactionKey: "tx1", Amount: d("48500"), Orders: split,
				FoundBy: "webhook", At: depositAt}), withdraw, ErrWithdrawnAfterRefund),
		Entry("a payment with a refund open: settled first",
			append(deposited, RefundRequested{RefundID: "r1", Amount: d("12500"), Orders: []RefundSplit{{Seq: 2, Amount: d("12500")}},
				Reason: "mug", PspIdempotencyKey: "cancel-r1", At: depositAt}), withdraw, ErrRefundExecuting),
		Entry("an account without a due date", deposited,
			WithdrawDeposit{PspStatus: "WAITING_FOR_DEPOSIT", VirtualAccount: &VirtualAccount{BankCode: "20"}, At: errorAt}, ErrInvalid),
		Entry("a booking of no withdrawal", deposited,
			RecordWithdrawalBooked{WithdrawalID: "order-0001-w1", By: "ledger", At: errorAt}, ErrNoSuchWithdrawal),
		Entry("a booking by someone else", append(deposited, withdrawn),
			RecordWithdrawalBooked{WithdrawalID: "order-0001-w1", By: "bank", At: errorAt}, ErrInvalid),
		Entry("a completion of the withdrawn approval arriving late", append(deposited, withdrawn),
			RecordLedgerUpdated{Orders: []int{1}, MessageID: "l1-again", At: errorAt}, ErrNotApproved),
		Entry("a refund while the deposit is withdrawn", append(deposited, withdrawn),
			RequestRefund{RefundID: "r1", Reason: "x", PspIdempotencyKey: "cancel-r1", At: errorAt}, ErrCannotRefund),
	)

	It("leaves the payment waiting as before its deposit: not approved, not done, nothing booked downstream", func() {
		s := Fold(append(deposited, withdrawn))
		Expect(s.Status).To(Equal(StatusWaitingForDeposit))
		Expect(s.WaitingForDeposit()).To(BeTrue())
		Expect(s.Status.Approved()).To(BeFalse())
		Expect(s.ApprovedAt).To(BeNil())
		Expect(s.IsPaymentDone).To(BeFalse())
		Expect(s.CompletedAt).To(BeNil())
		Expect(s.Outcome).To(Equal(&Outcome{Status: StatusWaitingForDeposit, Rule: RuleDepositWithdrawn, Code: CodeDepositWithdrawn,
			Message: "the PSP withdrew the deposit (WAITING_FOR_DEPOSIT); waiting for the buyer to deposit again"}))
		for _, o := range s.Orders {
			Expect(o).To(And(HaveField("Status", StatusWaitingForDeposit), HaveField("LedgerUpdated", false),
				HaveField("WalletUpdated", false)))
		}
		Expect(s.VirtualAccount).To(Equal(&account), "the account it was issued with")
		Expect(s.BalanceAmount().IsZero()).To(BeTrue(), "nothing to refund")
		Expect(s.Open(due)).To(BeFalse())
		Expect(s.DepositOverdue(due)).To(BeTrue(), "its due date is watched again")
		Expect(s.Withdrawals).To(Equal([]Withdrawal{{ID: "order-0001-w1", Amount: d("48500"), Orders: split, ApprovedAt: depositAt,
			At: errorAt}}))

		s = Fold(append(deposited, withdrawn, WithdrawalBooked{WithdrawalID: "order-0001-w1", By: "ledger", At: errorAt},
			WithdrawalBooked{WithdrawalID: "order-0001-w1", By: "wallet", At: errorAt}))
		Expect(s.Withdrawals[0].Booked()).To(BeTrue())
		Expect(s.Status).To(Equal(StatusWaitingForDeposit))
	})
})
