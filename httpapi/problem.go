package httpapi

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/go-json-experiment/json/v1"

	"github.com/paystream/paystream/access"
	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/audit"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/reconcile"
)

// Problem is an RFC 9457 problem detail.
type Problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
	// retryAfter, when set, becomes a Retry-After header (seconds).
	retryAfter string
}

// FieldError names one offending request field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// badRequest is an input problem found by this package before the service ran.
type badRequest struct {
	status int // 400 unless set
	field  string
	msg    string
}

func (e *badRequest) Error() string { return e.field + ": " + e.msg }

const problemBase = "urn:paystream:problem:"

// problemFor is the one table from errors to HTTP answers.
func problemFor(err error) (Problem, bool) {
	var (
		bad           *badRequest
		ve            *aggregate.ValidationError
		refusedRefund *aggregate.RefundError
	)
	var limited *rateLimited
	switch {
	case errors.Is(err, access.ErrNoCredential):
		return Problem{Type: problemBase + "unauthenticated", Title: "An API key is required", Status: http.StatusUnauthorized,
			Detail: "send Authorization: Bearer <key>"}, true
	case errors.Is(err, access.ErrUnknownCredential):
		return Problem{Type: problemBase + "unauthenticated", Title: "The API key is not valid", Status: http.StatusUnauthorized}, true
	case errors.Is(err, errForbidden):
		return Problem{Type: problemBase + "forbidden", Title: "This key's role may not call this route", Status: http.StatusForbidden,
			Detail: err.Error()}, true
	case errors.As(err, &limited):
		return Problem{Type: problemBase + "rate-limited", Title: "Too many requests with this key", Status: http.StatusTooManyRequests,
			Detail: "retry after the Retry-After seconds", retryAfter: retryAfterSeconds(limited.wait)}, true
	case errors.Is(err, audit.ErrNoAnchor):
		return Problem{Type: problemBase + "no-anchor", Title: "No anchor has been recorded", Status: http.StatusNotFound,
			Detail: "anchors are recorded every PAYSTREAM_ANCHOR_INTERVAL once events were written, when a signing key is configured"}, true
	case errors.Is(err, errNoReconciler):
		return Problem{Type: problemBase + "no-reconciler", Title: "This paymentd runs no reconciliation", Status: http.StatusServiceUnavailable}, true
	case errors.Is(err, reconcile.ErrNoRun):
		return Problem{Type: problemBase + "no-reconciliation-run", Title: "The period has not been reconciled",
			Status: http.StatusNotFound, Detail: "run it: POST /admin/v1/reconciliation/runs?from=…&to=…"}, true
	case errors.Is(err, reconcile.ErrBusy):
		return Problem{Type: problemBase + "reconciliation-busy", Title: "The period is being reconciled elsewhere",
			Status: http.StatusConflict, retryAfter: "10"}, true
	case errors.Is(err, errNoReadModel):
		return Problem{Type: problemBase + "no-read-model", Title: "This paymentd has no read model to list payments with",
			Status: http.StatusServiceUnavailable}, true
	case errors.As(err, &bad):
		status := bad.status
		if status == 0 {
			status = http.StatusBadRequest
		}
		p := Problem{Type: problemBase + "invalid-request", Title: "The request is not valid", Status: status, Detail: bad.Error()}
		if bad.field != "" {
			p.Errors = []FieldError{{Field: bad.field, Message: bad.msg}}
		}
		return p, true
	case errors.As(err, &ve):
		return Problem{Type: problemBase + "invalid-request", Title: "The request is not valid", Status: http.StatusBadRequest,
			Detail: err.Error(), Errors: fieldErrors(err)}, true
	case errors.As(err, &refusedRefund):
		return Problem{Type: problemBase + "cannot-refund", Title: "The refund cannot be made as asked", Status: http.StatusUnprocessableEntity,
			Detail: refusedRefund.Error(), Errors: []FieldError{{Field: refusedRefund.Field, Message: refusedRefund.Message}}}, true
	case errors.Is(err, aggregate.ErrRefundExecuting):
		return Problem{Type: problemBase + "refund-executing", Title: "Another refund of this payment is open",
			Status: http.StatusConflict, Detail: "retry once it is settled", retryAfter: "1"}, true
	case errors.Is(err, aggregate.ErrNoSuchRefund):
		return Problem{Type: problemBase + "refund-not-found", Title: "The payment has no refund with this id", Status: http.StatusNotFound}, true
	case errors.Is(err, aggregate.ErrNotFound):
		return Problem{Type: problemBase + "payment-not-found", Title: "No payment with this orderId", Status: http.StatusNotFound}, true
	case errors.Is(err, aggregate.ErrExecuting):
		return Problem{Type: problemBase + "payment-executing", Title: "Another confirm of this payment is running",
			Status: http.StatusConflict, Detail: "retry later; the answer will be the recorded outcome", retryAfter: "1"}, true
	case errors.Is(err, commands.ErrContention):
		return Problem{Type: problemBase + "contention", Title: "The payment is changing concurrently",
			Status: http.StatusConflict, retryAfter: "1"}, true
	case errors.Is(err, aggregate.ErrExecutionMismatch):
		return Problem{Type: problemBase + "execution-mismatch", Title: "Confirm differs from the one already sent to the PSP",
			Status: http.StatusConflict, Detail: "a repeated confirm must carry the same paymentKey and amount"}, true
	case errors.Is(err, aggregate.ErrExpired):
		return Problem{Type: problemBase + "checkout-expired", Title: "The checkout expired before it was confirmed",
			Status: http.StatusGone, Detail: "create a new checkout"}, true
	case errors.Is(err, aggregate.ErrEscalated):
		return Problem{Type: problemBase + "payment-escalated", Title: "The payment awaits manual resolution",
			Status: http.StatusConflict, Detail: "an operator resolves it; its outcome will be recorded in its stream"}, true
	case errors.Is(err, aggregate.ErrContradictsPSP):
		return Problem{Type: problemBase + "contradicts-psp", Title: "The resolution contradicts Toss's record",
			Status: http.StatusConflict, Detail: err.Error() + "; resend with force and a reason to override"}, true
	case errors.Is(err, aggregate.ErrAlreadyResolved):
		return Problem{Type: problemBase + "already-resolved", Title: "The payment's outcome is already recorded", Status: http.StatusConflict}, true
	case errors.Is(err, aggregate.ErrNotRecoverable):
		return Problem{Type: problemBase + "nothing-to-resolve", Title: "The payment was never sent to the PSP", Status: http.StatusConflict}, true
	case errors.Is(err, aggregate.ErrAlreadyExists):
		return Problem{Type: problemBase + "payment-exists", Title: "The payment already exists", Status: http.StatusConflict}, true
	case errors.Is(err, commands.ErrIdempotencyKeyReused):
		return Problem{Type: problemBase + "idempotency-key-reused", Title: "Idempotency-Key already used for a different request",
			Status: http.StatusUnprocessableEntity}, true
	case errors.Is(err, errReadModelLagging):
		return Problem{Type: problemBase + "read-model-lagging", Title: "The read model has not caught up with the requested position",
			Status: http.StatusServiceUnavailable, Detail: "retry shortly", retryAfter: "1"}, true
	case errors.Is(err, commands.ErrPSPUnavailable):
		return Problem{Type: problemBase + "psp-unavailable", Title: "The payment provider refused our credentials",
			Status: http.StatusServiceUnavailable, Detail: "nothing was charged; operators have been alerted; retry later",
			retryAfter: "30"}, true
	}
	return Problem{}, false
}

// fieldErrors lists every *aggregate.ValidationError in err (several, when joined).
func fieldErrors(err error) []FieldError {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var out []FieldError
		for _, e := range joined.Unwrap() {
			out = append(out, fieldErrors(e)...)
		}
		return out
	}
	var ve *aggregate.ValidationError
	if errors.As(err, &ve) {
		return []FieldError{{Field: ve.Field, Message: ve.Message}}
	}
	return nil
}

// writeError answers err as problem+json; unmapped errors are 500s, logged once here.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	p, ok := problemFor(err)
	if !ok {
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "request_id", requestID(r.Context()), "err", err)
		p = Problem{Type: problemBase + "internal", Title: "Internal error", Status: http.StatusInternalServerError,
			Detail: "the request id identifies this failure in the logs"}
	}
	p.Instance = requestID(r.Context())
	writeProblem(w, p)
}

func writeProblem(w http.ResponseWriter, p Problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	if p.retryAfter != "" {
		w.Header().Set("Retry-After", p.retryAfter)
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}
