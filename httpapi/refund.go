package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/gorilla/mux"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
)

// cancelBody is POST /v1/payments/{orderId}/cancel, in Toss's field names.
type cancelBody struct {
	CancelReason         *string      `json:"cancelReason"`
	CancelAmount         *krw         `json:"cancelAmount"`
	Orders               []splitBody  `json:"orders"`
	RefundReceiveAccount *accountBody `json:"refundReceiveAccount"`
	TaxFreeAmount        *krwOrZero   `json:"taxFreeAmount"`
}

type splitBody struct {
	Seq    int  `json:"seq"`
	Amount *krw `json:"amount"`
}

type accountBody struct {
	Bank          string `json:"bank"`
	AccountNumber string `json:"accountNumber"`
	HolderName    string `json:"holderName"`
}

// cancel refunds all or part of a payment: 200 with the payment as recorded, 202 when Toss's
// answer to this refund is unknown (recovery settles it).
func (a *api) cancel(w http.ResponseWriter, r *http.Request) {
	var body cancelBody
	if err := decodeJSON(w, r, &body); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if err := checkIdempotencyKey(r); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if body.CancelReason == nil {
		writeError(w, r, a.log, &badRequest{field: "cancelReason", msg: "is required"})
		return
	}
	req := commands.CancelRequest{OrderID: mux.Vars(r)["orderId"], Reason: *body.CancelReason,
		IdempotencyKey: r.Header.Get("Idempotency-Key")}
	if body.CancelAmount != nil {
		req.Amount = body.CancelAmount.Decimal
	}
	if body.TaxFreeAmount != nil {
		req.TaxFreeAmount = body.TaxFreeAmount.Decimal
	}
	if body.RefundReceiveAccount != nil {
		acc := aggregate.RefundAccount(*body.RefundReceiveAccount)
		req.Account = &acc
	}
	if body.Orders != nil {
		req.Orders = make([]aggregate.RefundSplit, len(body.Orders))
		for i, o := range body.Orders {
			if o.Amount == nil {
				writeError(w, r, a.log, &badRequest{field: fmt.Sprintf("orders[%d].amount", i), msg: "is required"})
				return
			}
			req.Orders[i] = aggregate.RefundSplit{Seq: o.Seq, Amount: o.Amount.Decimal}
		}
	}
	p, err := a.payments.Cancel(r.Context(), req, meta(r))
	if err != nil && !errors.Is(err, commands.ErrPSPUnavailable) {
		writeError(w, r, a.log, err)
		return
	}
	status := http.StatusOK
	if n := len(p.Refunds); n > 0 && p.Refunds[n-1].Open() {
		status = http.StatusAccepted // recorded as open; recovery settles it
	}
	if err != nil {
		writeError(w, r, a.log, err) // the PSP refused our credentials: nothing refunded
		return
	}
	setPosition(w, p)
	writeJSON(w, status, viewOf(p))
}

type allocateBody struct {
	Orders []splitBody `json:"orders"`
	Actor  *string     `json:"actor"`
	Reason *string     `json:"reason"`
}

// allocate says which orders a refund made outside paystream came from.
func (a *api) allocate(w http.ResponseWriter, r *http.Request) {
	var body allocateBody
	if err := decodeJSON(w, r, &body); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	actor, reason, err := actorAndReason(r, body.Reason)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	al := commands.Allocation{OrderID: mux.Vars(r)["orderId"], RefundID: mux.Vars(r)["refundId"], Actor: actor, Reason: reason}
	for i, o := range body.Orders {
		if o.Amount == nil {
			writeError(w, r, a.log, &badRequest{field: fmt.Sprintf("orders[%d].amount", i), msg: "is required"})
			return
		}
		al.Orders = append(al.Orders, aggregate.RefundSplit{Seq: o.Seq, Amount: o.Amount.Decimal})
	}
	p, err := a.payments.AllocateRefund(r.Context(), al, meta(r))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	setPosition(w, p)
	writeJSON(w, http.StatusOK, viewOf(p))
}

// resolveRefund records an operator's resolution of an open refund, checked against Toss.
func (a *api) resolveRefund(w http.ResponseWriter, r *http.Request) {
	var body resolveBody
	if err := decodeJSON(w, r, &body); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if body.Resolution == nil || (*body.Resolution != string(aggregate.StatusSuccess) && *body.Resolution != string(aggregate.StatusFailure)) {
		writeError(w, r, a.log, &badRequest{field: "resolution", msg: "must be SUCCESS (refunded) or FAILURE"})
		return
	}
	actor, reason, err := actorAndReason(r, body.Reason)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	p, err := a.payments.ResolveRefund(r.Context(), commands.RefundResolution{OrderID: mux.Vars(r)["orderId"],
		RefundID: mux.Vars(r)["refundId"], Resolution: aggregate.Status(*body.Resolution), Actor: actor, Reason: reason,
		Force: body.Force}, meta(r))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	setPosition(w, p)
	writeJSON(w, http.StatusOK, viewOf(p))
}

// actorAndReason is an operator's decision's actor — who authenticated, whatever the body's
// "actor" says — and its reason, free text the body must carry.
func actorAndReason(req *http.Request, reason *string) (string, string, error) {
	a, r := actorOf(req.Context()), ""
	if reason != nil {
		r = *reason
	}
	return a, r, errors.Join(aggregate.CheckRequiredText("actor", a, aggregate.MaxActorLength),
		aggregate.CheckRequiredText("reason", r, aggregate.MaxReasonLength))
}

// krwZeroPattern is krwPattern that also takes 0 (e.g. a tax-free amount).
var krwZeroPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,14})$`)

// krwOrZero is krw that may be zero.
type krwOrZero struct{ decimal.Decimal }

func (k *krwOrZero) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	if v.Kind() != '0' || !krwZeroPattern.Match(v) {
		return &badRequest{msg: "must be a whole number of KRW (0 or more) written as plain digits"}
	}
	k.Decimal, err = decimal.NewFromString(string(v))
	return err
}
