package toss

import (
	"context"
	"errors"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
)

// Rules a lookup of Toss's record decides by (toss.v1; frozen like the confirm table).
const (
	RuleLookupDone     = "toss.v1/lookup-done-matching"
	RuleLookupNotPaid  = "toss.v1/lookup-not-paid"
	RuleLookupMismatch = "toss.v1/lookup-done-mismatch"
	RuleLookupRefunded = "toss.v1/lookup-refunded"
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

// Lookup reads GET /v1/payments/orders/{orderId} and judges the record against e: DONE as
// executed is SUCCESS, DONE otherwise is UNKNOWN with an operator alert; CANCELED and
// PARTIAL_CANCELED (captured, then refunded at Toss — refunds are not events yet, and an
// approval would book money the seller no longer has) are UNKNOWN with an alert; ABORTED
// and EXPIRED are FAILURE. Anything else (READY, IN_PROGRESS, WAITING_FOR_DEPOSIT, no
// record) leaves the outcome undecided.
func (p *PSP) Lookup(ctx context.Context, e commands.Execution) commands.PSPRecord {
	pay, err := p.client.PaymentByOrderID(ctx, e.OrderID)
	var apiErr *APIError
	switch {
	case errors.As(err, &apiErr) && apiErr.Code == "NOT_FOUND_PAYMENT":
		return commands.PSPRecord{Status: apiErr.Code, NotFound: true, Evidence: redact(apiErr.Body)}
	case err != nil:
		return commands.PSPRecord{Err: err}
	}
	rec := commands.PSPRecord{Status: string(pay.Status), Evidence: redact(pay.Raw), Cancels: cancelsOf(pay), Balance: pay.BalanceAmount}
	switch pay.Status {
	case StatusDone:
		rec.Decided, rec.Verdict = true, verdictForPayment(pay, e, RuleLookupDone)
		if rec.Verdict.Status != aggregate.StatusSuccess {
			rec.Verdict.Rule = RuleLookupMismatch
		}
	case StatusCanceled, StatusPartialCanceled:
		rec.Decided, rec.Verdict = true, aggregate.Verdict{Status: aggregate.StatusUnknown, Rule: RuleLookupRefunded,
			Code: string(pay.Status), Message: "Toss's record says " + string(pay.Status) + "; refunds are not recorded by paystream",
			OperatorAlert: true, Evidence: rec.Evidence}
	case StatusAborted, StatusExpired:
		rec.Decided, rec.Verdict = true, aggregate.Verdict{Status: aggregate.StatusFailure, Rule: RuleLookupNotPaid,
			Code: string(pay.Status), Message: "Toss's record says " + string(pay.Status), Evidence: rec.Evidence}
	}
	return rec
}
