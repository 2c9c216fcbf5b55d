package aggregate_test

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/paystream/paystream/aggregate"
)

var _ = Describe("Decide after the PSP", func() {
	var (
		t3         = t2.Add(10 * time.Minute)
		claim      = ClaimRecovery{ExecutingBefore: t2, Threshold: 2, At: t3}
		attempt1   = RecoveryAttempted{Attempt: 1, Threshold: 2, Reason: "unknown", At: t3}
		staleClaim = RecoveryAttempted{Attempt: 1, Threshold: 2, Reason: "stale-executing", At: t3}
		attempt2   = RecoveryAttempted{Attempt: 2, Threshold: 2, Reason: "unknown", At: t3}
		escalated  = EscalatedToManual{Attempts: 2, Reason: "still UNKNOWN after 2 recovery attempts", At: t3}
		resolve    = func(r Status, says Status, force bool) Resolve {
			return Resolve{Resolution: r, Actor: "ops:kim", Reason: "checked with Toss", PspSays: says, PspStatus: string(says), Force: force, At: t3}
		}
		resolved     = ManuallyResolved{Resolution: StatusFailure, Actor: "ops:kim", Reason: "checked with Toss", PspStatus: "UNKNOWN", At: t3}
		ledger12     = LedgerUpdated{Orders: []int{1, 2}, MessageID: "l1", At: t3}
		wallet1      = WalletUpdated{Orders: []int{1}, MessageID: "w1", At: t3}
		wallet2      = WalletUpdated{Orders: []int{2}, MessageID: "w2", At: t3}
		recordLedger = func(seqs ...int) RecordLedgerUpdated {
			return RecordLedgerUpdated{Orders: seqs, MessageID: "l1", At: t3}
		}
		recordWallet = func(id string, seqs ...int) RecordWalletUpdated {
			return RecordWalletUpdated{Orders: seqs, MessageID: id, At: t3}
		}
	)

	DescribeTable("given history, when command, then events",
		func(given []Event, cmd Command, want []Event) {
			got, err := Decide(Fold(given), cmd)
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(Equal(want))
		},
		Entry("recovery claims an UNKNOWN payment", []Event{created, started, unknown}, claim, []Event{attempt1}),
		Entry("recovery claims a stale EXECUTING payment", []Event{created, started}, claim, []Event{staleClaim}),
		Entry("past the threshold it escalates", []Event{created, started, unknown, attempt1, unknown, attempt2, unknown}, claim, []Event{escalated}),
		Entry("an operator resolves what Toss cannot decide", []Event{created, started, unknown}, resolve(StatusFailure, StatusUnknown, false), []Event{resolved}),
		Entry("an operator resolves an escalated payment as Toss says", []Event{created, started, unknown, attempt1, unknown, attempt2, unknown, escalated},
			resolve(StatusSuccess, StatusSuccess, false), []Event{ManuallyResolved{Resolution: StatusSuccess, Actor: "ops:kim",
				Reason: "checked with Toss", PspStatus: "SUCCESS", At: t3}}),
		Entry("a forced resolution against Toss's record says so", []Event{created, started, unknown}, resolve(StatusFailure, StatusSuccess, true),
			[]Event{ManuallyResolved{Resolution: StatusFailure, Actor: "ops:kim", Reason: "checked with Toss", PspStatus: "SUCCESS", Forced: true, At: t3}}),
		Entry("an unconfirmed checkout expires", []Event{created}, Expire{Before: t1, At: t3}, []Event{CheckoutExpired{Reason: "not confirmed within the PSP session window", At: t3}}),
		Entry("ledger for all orders", []Event{created, started, approved}, recordLedger(1, 2), []Event{ledger12}),
		Entry("the last booking completes the payment", []Event{created, started, approved, ledger12, wallet1}, recordWallet("w2", 2),
			[]Event{wallet2, PaymentCompleted{At: t3}}),
		Entry("wallet before ledger completes it too", []Event{created, started, approved, wallet1, wallet2}, recordLedger(1, 2),
			[]Event{ledger12, PaymentCompleted{At: t3}}),
		Entry("a duplicated completion changes nothing", []Event{created, started, approved, ledger12}, recordLedger(1, 2), nil),
		Entry("a duplicated completion after done changes nothing", []Event{created, started, approved, ledger12, wallet1, wallet2, PaymentCompleted{At: t3}},
			recordWallet("w3", 1, 2), nil),
	)

	DescribeTable("given history, when command, then error",
		func(given []Event, cmd Command, want error) {
			got, err := Decide(Fold(given), cmd)
			Expect(err).To(MatchError(want))
			Expect(got).To(BeEmpty())
		},
		Entry("recovery of a fresh EXECUTING payment", []Event{created, ExecutionStarted{PaymentKey: "pk_1", Amount: d("48500"),
			PspIdempotencyKey: "k", At: t3}}, claim, ErrExecuting),
		Entry("recovery of an approved payment", []Event{created, started, approved}, claim, ErrNotRecoverable),
		Entry("recovery of a payment never executed", []Event{created}, claim, ErrNotRecoverable),
		Entry("recovery of an escalated payment", []Event{created, started, unknown, escalated}, claim, ErrEscalated),
		Entry("confirm of an escalated payment", []Event{created, started, unknown, escalated}, start("pk_1", "48500"), ErrEscalated),
		Entry("resolution contradicting Toss", []Event{created, started, unknown}, resolve(StatusFailure, StatusSuccess, false), ErrContradictsPSP),
		Entry("resolution without a reason", []Event{created, started, unknown}, Resolve{Resolution: StatusFailure, Actor: "ops", PspSays: StatusUnknown}, ErrInvalid),
		Entry("resolution without an actor", []Event{created, started, unknown}, Resolve{Resolution: StatusFailure, Reason: "r", PspSays: StatusUnknown}, ErrInvalid),
		Entry("resolution of a settled payment", []Event{created, started, approved}, resolve(StatusFailure, StatusUnknown, true), ErrAlreadyResolved),
		Entry("expiry of a payment sent to the PSP", []Event{created, started, unknown}, Expire{Before: t3, At: t3}, ErrNotRecoverable),
		Entry("expiry inside the window", []Event{created}, Expire{Before: t0, At: t3}, ErrInvalid),
		Entry("confirm after expiry", []Event{created, CheckoutExpired{At: t3}}, start("pk_1", "48500"), ErrExpired),
		Entry("ledger before approval", []Event{created, started}, recordLedger(1), ErrNotApproved),
		Entry("ledger for an order that does not exist", []Event{created, started, approved}, recordLedger(3), ErrInvalid),
	)

	It("counts recovery attempts as the seed's failed_count and marks orders", func() {
		s := Fold([]Event{created, started, unknown, attempt1, unknown})
		Expect(s.FailedCount).To(Equal(1))
		Expect(s.Threshold).To(Equal(2))
		s = Fold([]Event{created, started, approved, ledger12, wallet1})
		Expect(s.Orders[0].LedgerUpdated && s.Orders[0].WalletUpdated).To(BeTrue())
		Expect(s.Orders[1].WalletUpdated).To(BeFalse())
		Expect(s.IsPaymentDone).To(BeFalse())
	})
})
