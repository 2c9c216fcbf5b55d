package toss

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
)

// The rule table version is part of every rule name, so an event always says which table
// decided it. Change a rule's meaning → new version; never edit a released rule in place.
//
// toss.v2 was toss.v1 (confirmCodesV1, kept as released) plus the confirm codes Toss documents
// that v1 did not list (confirmCodesAddedInV2). Under v1 those codes fell to
// unrecognised-code: UNKNOWN, a lookup, a plain decline answered 202. Under v2 they decide
// FAILURE or a configuration fault. No code known to v1 changes class, but "rejected" and
// "unrecognised-code" now cover other codes than in v1, so the whole table takes the new
// version: an auditor reading "toss.v1/unrecognised-code EXCEED_MAX_CARD_INSTALLMENT_PLAN" on
// an old event and "toss.v2/rejected" on a new one sees why they differ.
//
// toss.v3 is toss.v2 with a 200 answered WAITING_FOR_DEPOSIT (a virtual account issued for
// the executed order, key and amount) decided as its own verdict, waiting-for-deposit,
// carrying the account and the secret. Under v2 it fell to not-done: UNKNOWN, recovered,
// escalated while the buyer could still pay. The code table is v2's unchanged, but not-done
// now covers fewer answers, so every rule takes v3. The lookup rules (psp.go) do not read
// this table and have their own version.
const (
	RuleDoneMatching      = "toss.v3/done-matching"
	RuleDoneMismatch      = "toss.v3/done-mismatch"
	RuleWaitingForDeposit = "toss.v3/waiting-for-deposit"
	RuleNotDone           = "toss.v3/not-done"
	RuleRejected          = "toss.v3/rejected"
	RuleTransient         = "toss.v3/transient"
	RuleTransport         = "toss.v3/transport"
	RuleMalformed         = "toss.v3/malformed-response"
	RuleConfigFault       = "toss.v3/config-fault"
	RuleAlreadyProcessed  = "toss.v3/already-processed-lookup"
	RuleUnrecognised      = "toss.v3/unrecognised-code"
)

// class is what a Toss error code means for a confirm.
type class int

const (
	classRejected    class = iota + 1 // definitive: the buyer's payment failed, nothing captured
	classTransient                    // unknown; the same idempotent request may be retried now
	classConfigFault                  // our fault; Toss did not execute; alert an operator
	classLookup                       // unknown; only a lookup can tell (never assume success)
)

// confirmCodes is the classification table for confirm error codes (toss.v2, unchanged in v3). Codes not
// listed are unknown outcomes: a lookup decides, never the code.
var confirmCodes = func() map[string]class {
	m := maps.Clone(confirmCodesV1)
	maps.Copy(m, confirmCodesAddedInV2)
	return m
}()

// confirmCodesV1 is the table as released in toss.v1. Frozen: change confirmCodesAddedInV2,
// or start a v3, instead.
var confirmCodesV1 = map[string]class{
	// Card, account, limit and fraud rejections, expired or missing sessions.
	"INVALID_REQUEST":                     classRejected,
	"INVALID_CARD_NUMBER":                 classRejected,
	"INVALID_STOPPED_CARD":                classRejected,
	"INVALID_CARD_EXPIRATION":             classRejected,
	"INVALID_REJECT_CARD":                 classRejected,
	"INVALID_CARD_LOST_OR_STOLEN":         classRejected,
	"EXCEED_MAX_AMOUNT":                   classRejected,
	"EXCEED_MAX_PAYMENT_AMOUNT":           classRejected,
	"EXCEED_MAX_DAILY_PAYMENT_COUNT":      classRejected,
	"EXCEED_MAX_MONTHLY_PAYMENT_AMOUNT":   classRejected,
	"BELOW_MINIMUM_AMOUNT":                classRejected,
	"UNAPPROVED_ORDER_ID":                 classRejected,
	"NOT_AVAILABLE_PAYMENT":               classRejected,
	"RESTRICTED_TRANSFER_ACCOUNT":         classRejected,
	"EXCEED_MAX_ONE_DAY_WITHDRAW_AMOUNT":  classRejected,
	"EXCEED_MAX_ONE_TIME_WITHDRAW_AMOUNT": classRejected,
	"REJECT_CARD_PAYMENT":                 classRejected,
	"REJECT_CARD_COMPANY":                 classRejected,
	"REJECT_ACCOUNT_PAYMENT":              classRejected,
	"FORBIDDEN_REQUEST":                   classRejected,
	"EXCEED_MAX_AUTH_COUNT":               classRejected,
	"EXCEED_MAX_ONE_DAY_AMOUNT":           classRejected,
	"NOT_AVAILABLE_BANK":                  classRejected,
	"INVALID_PASSWORD":                    classRejected,
	"FDS_ERROR":                           classRejected,
	"NOT_FOUND_PAYMENT_SESSION":           classRejected,
	"NOT_FOUND_PAYMENT":                   classRejected,
	// Toss or the card network hiccuped; the idempotent request may be repeated.
	"PROVIDER_ERROR":                            classTransient,
	"CARD_PROCESSING_ERROR":                     classTransient,
	"IDEMPOTENT_REQUEST_PROCESSING":             classTransient,
	"FORBIDDEN_CONSECUTIVE_REQUEST":             classTransient,
	"FAILED_INTERNAL_SYSTEM_PROCESSING":         classTransient,
	"FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING": classTransient,
	"UNKNOWN_PAYMENT_ERROR":                     classTransient,
	// Our configuration is wrong; Toss refused before executing anything.
	"UNAUTHORIZED_KEY":            classConfigFault,
	"INVALID_API_KEY":             classConfigFault,
	"INCORRECT_BASIC_AUTH_FORMAT": classConfigFault,
	"INVALID_IDEMPOTENCY_KEY":     classConfigFault,
	// Processed before — but by which request? Only a lookup can say.
	"ALREADY_PROCESSED_PAYMENT": classLookup,
}

// confirmCodesAddedInV2 completes the table with the rest of Toss's confirm error codes
// (docs.tosspayments.com/reference/error-codes, "결제 승인"). Only additions: a code of v1
// listed here would change its meaning in place.
var confirmCodesAddedInV2 = map[string]class{
	// The buyer's card, plan or account cannot pay this: a decline, nothing captured.
	"EXCEED_MAX_CARD_INSTALLMENT_PLAN":                classRejected, // 400: more instalments than allowed
	"NOT_ALLOWED_POINT_USE":                           classRejected, // 400: card cannot pay with points
	"NOT_SUPPORTED_INSTALLMENT_PLAN_CARD_OR_MERCHANT": classRejected, // 400: no instalments for this card
	"INVALID_CARD_INSTALLMENT_PLAN":                   classRejected, // 400: invalid instalment plan
	"NOT_SUPPORTED_MONTHLY_INSTALLMENT_PLAN":          classRejected, // 400: card has no monthly instalments
	"INVALID_AUTHORIZE_AUTH":                          classRejected, // 400: the buyer's authentication is not valid
	"INVALID_ACCOUNT_INFO_RE_REGISTER":                classRejected, // 400: account must be registered again
	"REJECT_TOSSPAY_INVALID_ACCOUNT":                  classRejected, // 403: Toss Pay account invalid
	// The merchant's contract or registration at Toss is incomplete: not the buyer's failure.
	"NOT_FOUND_TERMINAL_ID":        classConfigFault, // 400: no terminal id; contact Toss
	"INVALID_UNREGISTERED_SUBMALL": classConfigFault, // 400: sub-mall not registered
	"NOT_REGISTERED_BUSINESS":      classConfigFault, // 400: business number not registered
}

// verdictFor classifies one confirm answer. It reports needLookup when only a lookup by
// orderId can decide, and transient when the same request may be retried now.
func verdictFor(p Payment, err error, want commands.Execution) (v aggregate.Verdict, transient, needLookup bool) {
	var apiErr *APIError
	switch {
	case err == nil:
		return verdictForPayment(p, want, RuleDoneMatching, RuleWaitingForDeposit), false, false
	case errors.As(err, &apiErr):
		v = aggregate.Verdict{Code: apiErr.Code, Message: apiErr.Message, HTTPStatus: apiErr.HTTPStatus,
			Evidence: redact(apiErr.Body)}
		c, known := confirmCodes[apiErr.Code]
		switch {
		case known && c == classRejected:
			v.Status, v.Rule = aggregate.StatusFailure, RuleRejected
		case known && c == classConfigFault:
			v.Status, v.Rule, v.OperatorAlert = aggregate.StatusNotStarted, RuleConfigFault, true
		case known && c == classLookup:
			v.Status, v.Rule = aggregate.StatusUnknown, RuleAlreadyProcessed
			return v, false, true
		case known && c == classTransient, apiErr.HTTPStatus >= http.StatusInternalServerError:
			v.Status, v.Rule = aggregate.StatusUnknown, RuleTransient
			return v, true, false
		default:
			v.Status, v.Rule = aggregate.StatusUnknown, RuleUnrecognised
		}
		if v.Message == "" {
			v.Message = fmt.Sprintf("HTTP %d", apiErr.HTTPStatus)
		}
		return v, false, false
	case errors.Is(err, ErrMalformedResponse):
		return aggregate.Verdict{Status: aggregate.StatusUnknown, Rule: RuleMalformed, Message: err.Error()}, true, false
	default:
		return aggregate.Verdict{Status: aggregate.StatusUnknown, Rule: RuleTransport, Message: err.Error()}, true, false
	}
}

// verdictForPayment judges a Payment object Toss returned (from confirm or a lookup).
// SUCCESS only for DONE with the orderId, paymentKey and total we executed (doneRule);
// WAITING_FOR_DEPOSIT (waitingRule) only for an open virtual account issued for them.
func verdictForPayment(p Payment, want commands.Execution, doneRule, waitingRule string) aggregate.Verdict {
	v := aggregate.Verdict{Evidence: redact(p.Raw), PaymentKey: p.PaymentKey, TotalAmount: p.TotalAmount,
		Method: string(p.Method)}
	matches := p.OrderID == want.OrderID && p.PaymentKey == want.PaymentKey && p.TotalAmount.Equal(want.Amount)
	switch {
	case p.Status == StatusDone && matches && p.ApprovedAt != nil:
		v.Status, v.Rule, v.ApprovedAt = aggregate.StatusSuccess, doneRule, *p.ApprovedAt
	case p.Status == StatusDone:
		// Money moved, but not as we asked: a person must look at it.
		v.Status, v.Rule, v.OperatorAlert = aggregate.StatusUnknown, RuleDoneMismatch, true
		v.Message = fmt.Sprintf("DONE for order %q, key %q, amount %s; executed order %q, key %q, amount %s",
			p.OrderID, p.PaymentKey, p.TotalAmount, want.OrderID, want.PaymentKey, want.Amount)
	case p.Status == StatusWaitingForDeposit && matches:
		d, err := depositOf(p)
		if err != nil || d.expired {
			v.Status, v.Rule = aggregate.StatusUnknown, RuleNotDone
			v.Message = fmt.Sprintf("PSP status %s without an open virtual account", p.Status)
			if err != nil {
				v.Message += ": " + err.Error()
			}
			return v
		}
		v.Status, v.Rule, v.VirtualAccount, v.DepositSecret = aggregate.StatusWaitingForDeposit, waitingRule, &d.account, d.secret
	default:
		v.Status, v.Rule = aggregate.StatusUnknown, RuleNotDone
		v.Message = fmt.Sprintf("PSP status %s", p.Status)
	}
	return v
}

// deposit is a Payment's virtual account as Toss describes it.
type deposit struct {
	account aggregate.VirtualAccount
	secret  aggregate.Secret
	expired bool // Toss's virtualAccount.expired: the due date passed, no deposit is taken
}

// depositOf reads the virtual account and the secret of a Payment from its raw JSON.
func depositOf(p Payment) (deposit, error) {
	var w struct {
		Secret         string `json:"secret"`
		VirtualAccount *struct {
			AccountType   string `json:"accountType"`
			AccountNumber string `json:"accountNumber"`
			BankCode      string `json:"bankCode"`
			CustomerName  string `json:"customerName"`
			DueDate       string `json:"dueDate"`
			Expired       bool   `json:"expired"`
		} `json:"virtualAccount"`
	}
	if err := json.Unmarshal(p.Raw, &w); err != nil {
		return deposit{}, fmt.Errorf("virtualAccount: %w", err)
	}
	va := w.VirtualAccount
	switch {
	case va == nil:
		return deposit{}, errors.New("no virtualAccount")
	case va.AccountNumber == "" || va.BankCode == "":
		return deposit{}, errors.New("virtualAccount without accountNumber or bankCode")
	}
	due, err := parseTossTime(va.DueDate)
	if err != nil {
		return deposit{}, fmt.Errorf("virtualAccount.dueDate: %w", err)
	}
	return deposit{account: aggregate.VirtualAccount{AccountType: va.AccountType, BankCode: va.BankCode,
		AccountNumber: va.AccountNumber, HolderName: va.CustomerName, DueDate: due}, secret: aggregate.Secret(w.Secret),
		expired: va.Expired}, nil
}

// kst is Korea Standard Time, in which Toss writes times that carry no offset.
var kst = time.FixedZone("KST", 9*60*60)

// parseTossTime reads a time as Toss writes it: ISO 8601 with an offset, or without one (the
// webhooks' createdAt), then in KST.
func parseTossTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.ParseInLocation("2006-01-02T15:04:05.999999999", s, kst)
}
