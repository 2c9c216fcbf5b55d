package toss

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
)

// The cancel rule table, versioned and frozen like the confirm table: a changed meaning is a
// new version, and every rule of the table takes it, so an event always says which table
// decided it.
//
// toss.v2 is toss.v1 (cancelCodesV1, released: golden events carry toss.v1/cancel-… rules)
// plus the cancel codes Toss documents that v1 did not list (cancelCodesAddedInV2). Under v1
// those fell to cancel-unrecognised-code (UNKNOWN, neither retried nor looked up, so recovery
// re-sent the same key and Toss replayed the same refusal until escalation) or, for the 5xx
// ones, to cancel-transient. Under v2 the refusals decide FAILURE (nothing was refunded; a new
// refund may be asked for), ALREADY_REFUND_PAYMENT is looked up like ALREADY_CANCELED_PAYMENT,
// and the 5xx ones stay transient. No code known to v1 changes class.
const (
	RuleCancelRecorded   = "toss.v2/cancel-recorded"
	RuleCancelNotFound   = "toss.v2/cancel-not-in-record"
	RuleCancelRejected   = "toss.v2/cancel-rejected"
	RuleCancelTransient  = "toss.v2/cancel-transient"
	RuleCancelTransport  = "toss.v2/cancel-transport"
	RuleCancelMalformed  = "toss.v2/cancel-malformed-response"
	RuleCancelConfig     = "toss.v2/cancel-config-fault"
	RuleCancelLookup     = "toss.v2/cancel-already-canceled-lookup"
	RuleCancelUnrecorded = "toss.v2/cancel-unrecognised-code"
)

// cancelCodes classifies cancel error codes (toss.v2). Codes not listed are unknown
// outcomes: a lookup decides, never the code.
var cancelCodes = func() map[string]class {
	m := maps.Clone(cancelCodesV1)
	maps.Copy(m, cancelCodesAddedInV2)
	return m
}()

// cancelCodesV1 is the table as released in toss.v1. Frozen: change cancelCodesAddedInV2, or
// start a v3, instead.
var cancelCodesV1 = map[string]class{
	// The cancel cannot be made as asked: nothing was refunded.
	"NOT_CANCELABLE_AMOUNT":                   classRejected,
	"NOT_CANCELABLE_PAYMENT":                  classRejected,
	"NOT_CANCELABLE_PAYMENT_FOR_DORMANT_USER": classRejected,
	"EXCEED_CANCEL_AMOUNT_DISCOUNT_AMOUNT":    classRejected,
	"INVALID_REFUND_ACCOUNT_INFO":             classRejected,
	"INVALID_REFUND_ACCOUNT_NUMBER":           classRejected,
	"INVALID_BANK":                            classRejected,
	"REFUND_REJECTED":                         classRejected,
	"NOT_MATCHES_REFUNDABLE_AMOUNT":           classRejected,
	"INVALID_REQUEST":                         classRejected,
	"NOT_FOUND_PAYMENT":                       classRejected,
	"FORBIDDEN_REQUEST":                       classRejected,
	// Toss or the bank hiccuped; the idempotent request may be repeated.
	"PROVIDER_ERROR":                    classTransient,
	"FAILED_REFUND_PROCESS":             classTransient,
	"FAILED_METHOD_HANDLING_CANCEL":     classTransient,
	"FAILED_PARTIAL_REFUND":             classTransient,
	"COMMON_ERROR":                      classTransient,
	"FAILED_INTERNAL_SYSTEM_PROCESSING": classTransient,
	"FORBIDDEN_CONSECUTIVE_REQUEST":     classTransient,
	"IDEMPOTENT_REQUEST_PROCESSING":     classTransient,
	// Our configuration is wrong; Toss refused before doing anything.
	"UNAUTHORIZED_KEY":            classConfigFault,
	"INVALID_API_KEY":             classConfigFault,
	"INCORRECT_BASIC_AUTH_FORMAT": classConfigFault,
	"INVALID_IDEMPOTENCY_KEY":     classConfigFault,
	// Cancelled before — by this request or another? Only the record can say.
	"ALREADY_CANCELED_PAYMENT": classLookup,
}

// cancelCodesAddedInV2 completes the table with the rest of Toss's cancel error codes
// (docs.tosspayments.com/reference/error-codes, "결제 취소"). Only additions: a code of v1
// listed here would change its meaning in place.
var cancelCodesAddedInV2 = map[string]class{
	// Refused before anything was refunded. Repeating the request with its key would only
	// replay the refusal; a new refund (a new key) may be asked for later.
	"FORBIDDEN_BANK_REFUND_REQUEST":              classRejected, // 400: the buyer's account cannot receive
	"EXCEED_MAX_REFUND_DUE":                      classRejected, // 403: the refund period is over
	"NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT": classRejected, // 403: no partial refund while awaiting the deposit
	"NOT_ALLOWED_PARTIAL_REFUND":                 classRejected, // 403: escrow or cash card: in full only
	"NOT_AVAILABLE_BANK":                         classRejected, // 403: outside the bank's service hours
	// Refunded before — by this request or another? Only the record can say.
	"ALREADY_REFUND_PAYMENT": classLookup, // 400
	// Toss's side failed; as under v1 (any 5xx), the idempotent request may be repeated.
	"FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING": classTransient, // 500
	"FAILED_CLOSED_ACCOUNT_REFUND":              classTransient, // 500: the refund account is closed
}

// Cancel sends POST /v1/payments/{paymentKey}/cancel once and classifies the answer. A 200
// is a SUCCESS only when its cancels[] holds a cancel of r.Amount that is not among
// r.KnownCancels: the answer is checked, never assumed.
func (p *PSP) Cancel(ctx context.Context, r commands.RefundExecution) commands.PSPAnswer {
	req := CancelRequest{Reason: r.Reason, Amount: &r.Amount, TaxFreeAmount: r.TaxFreeAmount}
	if r.Account != nil {
		req.RefundAccount = &RefundAccount{Bank: r.Account.Bank, AccountNumber: r.Account.AccountNumber, HolderName: r.Account.HolderName}
	}
	pay, err := p.client.Cancel(ctx, r.PaymentKey, req, r.IdempotencyKey)
	var apiErr *APIError
	switch {
	case err == nil:
		return commands.PSPAnswer{Verdict: cancelVerdict(pay, r, RuleCancelRecorded)}
	case errors.As(err, &apiErr):
		v := aggregate.Verdict{Code: apiErr.Code, Message: apiErr.Message, HTTPStatus: apiErr.HTTPStatus, Evidence: redact(apiErr.Body)}
		if v.Message == "" {
			v.Message = fmt.Sprintf("HTTP %d", apiErr.HTTPStatus)
		}
		c, known := cancelCodes[apiErr.Code]
		switch {
		case known && c == classRejected:
			v.Status, v.Rule = aggregate.StatusFailure, RuleCancelRejected
		case known && c == classConfigFault:
			v.Status, v.Rule, v.OperatorAlert = aggregate.StatusNotStarted, RuleCancelConfig, true
		case known && c == classLookup:
			v.Status, v.Rule = aggregate.StatusUnknown, RuleCancelLookup
			return commands.PSPAnswer{Verdict: v, LookUp: true}
		case known && c == classTransient, apiErr.HTTPStatus >= http.StatusInternalServerError:
			v.Status, v.Rule = aggregate.StatusUnknown, RuleCancelTransient
			return commands.PSPAnswer{Verdict: v, Retry: true}
		default:
			v.Status, v.Rule = aggregate.StatusUnknown, RuleCancelUnrecorded
		}
		return commands.PSPAnswer{Verdict: v}
	case errors.Is(err, ErrMalformedResponse):
		return commands.PSPAnswer{Verdict: aggregate.Verdict{Status: aggregate.StatusUnknown, Rule: RuleCancelMalformed, Message: err.Error()}, Retry: true}
	default:
		return commands.PSPAnswer{Verdict: aggregate.Verdict{Status: aggregate.StatusUnknown, Rule: RuleCancelTransport, Message: err.Error()}, Retry: true}
	}
}

// cancelVerdict judges a Payment Toss returned for a cancel of r: SUCCESS with the new
// cancel's transaction key when the record shows it; UNKNOWN (a lookup later decides)
// otherwise.
func cancelVerdict(pay Payment, r commands.RefundExecution, rule string) aggregate.Verdict {
	v := aggregate.Verdict{Evidence: redact(pay.Raw)}
	if c, ok := newCancel(pay, r); ok {
		v.Status, v.Rule, v.TransactionKey, v.CanceledAt = aggregate.StatusSuccess, rule, c.TransactionKey, c.CanceledAt
		return v
	}
	v.Status, v.Rule = aggregate.StatusUnknown, RuleCancelNotFound
	v.Message = fmt.Sprintf("Toss's record (%s, balance %s) shows no new cancel of %s", pay.Status, pay.BalanceAmount, r.Amount)
	return v
}

// newCancel finds the cancel of r in pay: of r's amount and not among the known ones.
func newCancel(pay Payment, r commands.RefundExecution) (Cancel, bool) {
	if pay.OrderID != r.OrderID || pay.PaymentKey != r.PaymentKey {
		return Cancel{}, false
	}
	for _, c := range pay.Cancels {
		if c.TransactionKey != "" && c.CancelAmount.Equal(r.Amount) && !slices.Contains(r.KnownCancels, c.TransactionKey) &&
			(c.CancelStatus == "" || c.CancelStatus == "DONE") {
			return c, true
		}
	}
	return Cancel{}, false
}

// cancelsOf lists the record's completed cancels for commands.PSPRecord.
func cancelsOf(pay Payment) []commands.PSPCancel {
	var out []commands.PSPCancel
	for _, c := range pay.Cancels {
		if c.CancelStatus != "" && c.CancelStatus != "DONE" {
			continue
		}
		out = append(out, commands.PSPCancel{TransactionKey: c.TransactionKey, Amount: c.CancelAmount, Reason: c.CancelReason,
			CanceledAt: c.CanceledAt, Status: c.CancelStatus})
	}
	return out
}
