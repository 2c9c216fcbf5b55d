package toss

import (
	"context"
	"errors"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
)

// Rules a lookup of Toss's record decides by. toss.v2 is toss.v1 plus virtual accounts: a
// record WAITING_FOR_DEPOSIT for the executed order, key and amount is decided (it was
// undecided), an account Toss marks expired is not paid, and a virtual account cancelled
// before its deposit (CANCELED without approvedAt) is not paid either — under v1 it fell to
// lookup-refunded, so that rule now covers less and the table takes the new version.
const (
	RuleLookupDone           = "toss.v2/lookup-done-matching"
	RuleLookupNotPaid        = "toss.v2/lookup-not-paid"
	RuleLookupMismatch       = "toss.v2/lookup-done-mismatch"
	RuleLookupRefunded       = "toss.v2/lookup-refunded"
	RuleLookupWaiting        = "toss.v2/lookup-waiting-for-deposit"
	RuleLookupDepositExpired = "toss.v2/lookup-deposit-expired"
	RuleLookupClosedUnpaid   = "toss.v2/lookup-closed-before-deposit"
)

// PSP is Toss Payments in paystream's terms (commands.PSP): the Client's answers classified
// by the versioned rule tables of classify.go and this file. Safe for concurrent use.
type PSP struct{ client *Client }

var _ commands.PSP = (*PSP)(nil)

// NewPSP adapts client to paystream.
func NewPSP(client *Client) *PSP { return &PSP{client: client} }

// Confirm sends POST /v1/payments/confirm once and classifies the answer (toss.v2).
func (p *PSP) Confirm(ctx context.Context, e commands.Execution) commands.PSPAnswer {
	pay, err := p.client.Confirm(ctx, ConfirmRequest{PaymentKey: e.PaymentKey, OrderID: e.OrderID, Amount: e.Amount}, e.IdempotencyKey)
	v, retry, lookUp := verdictFor(pay, err, e)
	return commands.PSPAnswer{Verdict: v, Retry: retry, LookUp: lookUp}
}

// Lookup reads GET /v1/payments/orders/{orderId} and judges the record against e (toss.v2):
// DONE as executed is SUCCESS, DONE otherwise is UNKNOWN with an operator alert;
// WAITING_FOR_DEPOSIT as executed is WAITING_FOR_DEPOSIT with the account, or FAILURE once
// Toss marks the account expired; CANCELED and PARTIAL_CANCELED after an approval (captured,
// then refunded at Toss) are UNKNOWN with an alert — paystream records cancels found at Toss
// from Cancels, not from the verdict; a virtual account CANCELED before its deposit, ABORTED
// and EXPIRED are FAILURE. Anything else (READY, IN_PROGRESS, no record) leaves the outcome
// undecided.
func (p *PSP) Lookup(ctx context.Context, e commands.Execution) commands.PSPRecord {
	pay, err := p.client.PaymentByOrderID(ctx, e.OrderID)
	var apiErr *APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.Code == "NOT_FOUND_PAYMENT":
		return commands.PSPRecord{Status: apiErr.Code, NotFound: true, Evidence: redact(apiErr.Body)}
	case err != nil:
		return commands.PSPRecord{Err: err}
	}
	return judgeRecord(pay, e)
}

// judgeRecord is Lookup's judgement of a record Toss returned.
func judgeRecord(pay Payment, e commands.Execution) commands.PSPRecord {
	rec := commands.PSPRecord{Status: string(pay.Status), Evidence: redact(pay.Raw), Cancels: cancelsOf(pay), Balance: pay.BalanceAmount}
	notPaid := func(rule, message string) {
		rec.Decided, rec.Verdict = true, aggregate.Verdict{Status: aggregate.StatusFailure, Rule: rule,
			Code: string(pay.Status), Message: message, Evidence: rec.Evidence}
	}
	switch {
	case pay.Status == StatusDone:
		rec.Decided, rec.Verdict = true, verdictForPayment(pay, e, RuleLookupDone, RuleLookupWaiting)
		if rec.Verdict.Status != aggregate.StatusSuccess {
			rec.Verdict.Rule = RuleLookupMismatch
		}
	case pay.Status == StatusWaitingForDeposit:
		if d, err := depositOf(pay); err == nil && d.expired {
			notPaid(RuleLookupDepositExpired, "Toss's record says the virtual account expired without a deposit")
			break
		}
		if v := verdictForPayment(pay, e, RuleLookupDone, RuleLookupWaiting); v.Status == aggregate.StatusWaitingForDeposit {
			rec.Decided, rec.Verdict = true, v
		}
	case (pay.Status == StatusCanceled || pay.Status == StatusPartialCanceled) && pay.Method == MethodVirtualAccount &&
		pay.ApprovedAt == nil:
		notPaid(RuleLookupClosedUnpaid, "Toss's record says the virtual account was cancelled before any deposit")
	case pay.Status == StatusCanceled || pay.Status == StatusPartialCanceled:
		rec.Decided, rec.Verdict = true, aggregate.Verdict{Status: aggregate.StatusUnknown, Rule: RuleLookupRefunded,
			Code: string(pay.Status), Message: "Toss's record says " + string(pay.Status) + "; refunds are not recorded by paystream",
			OperatorAlert: true, Evidence: rec.Evidence}
	case pay.Status == StatusAborted || pay.Status == StatusExpired:
		notPaid(RuleLookupNotPaid, "Toss's record says "+string(pay.Status))
	}
	return rec
}
