package httpapi

import (
	"net/http"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/gorilla/mux"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/projections"
)

// Hints takes Toss webhook hints for background reconciliation (commands.WebhookInbox).
type Hints interface {
	// Offer reports false when the hint cannot be queued now.
	Offer(orderID, transmissionID string) bool
	// Ignore counts and logs a well-formed webhook that names no payment we can act on.
	Ignore(eventType, reason string)
}

// webhookType names a webhook for counting: Toss's eventType, DEPOSIT_CALLBACK for the
// deposit callback (which has none), and "other" for anything else, so that the label set
// stays bounded whatever a caller sends.
func webhookType(eventType string, hasSecret bool) string {
	switch eventType {
	case "PAYMENT_STATUS_CHANGED", "DEPOSIT_CALLBACK", "CANCEL_STATUS_CHANGED", "BILLING_DELETED",
		"payout.changed", "seller.changed", "METHOD_UPDATED", "CUSTOMER_STATUS_CHANGED":
		return eventType
	case "":
		if hasSecret {
			return "DEPOSIT_CALLBACK"
		}
	}
	return "other"
}

// webhook answers every well-formed Toss webhook 200 at once: Toss retries anything else
// for days and then e-mails the merchant. One that names a payment (PAYMENT_STATUS_CHANGED's
// data.orderId, DEPOSIT_CALLBACK's orderId) is queued as a hint — webhooks are unsigned, so
// what they claim is looked up, never believed; the rest (CANCEL_STATUS_CHANGED,
// BILLING_DELETED, payout.changed, seller.changed, …) are counted and logged. Only a body
// that is not a JSON object is refused (400), and a full queue answers 503 so that Toss
// retries later.
func (a *api) webhook(w http.ResponseWriter, r *http.Request) {
	var body map[string]jsontext.Value
	if err := json.UnmarshalRead(http.MaxBytesReader(w, r.Body, maxBodyBytes), &body); err != nil {
		writeError(w, r, a.log, decodeProblem(err))
		return
	}
	if a.hints == nil {
		writeProblem(w, Problem{Type: problemBase + "busy", Title: "Webhooks are not taken here", Status: http.StatusServiceUnavailable, retryAfter: "60"})
		return
	}
	var eventType, orderID string
	_ = json.Unmarshal(body["eventType"], &eventType) // absent or not a string: ""
	_ = json.Unmarshal(body["orderId"], &orderID)
	var data struct {
		OrderID string `json:"orderId"`
	}
	if json.Unmarshal(body["data"], &data) == nil && data.OrderID != "" {
		orderID = data.OrderID
	}
	kind := webhookType(eventType, body["secret"] != nil)
	switch {
	case orderID == "":
		a.hints.Ignore(kind, "names no payment")
	case !aggregate.ValidOrderID(orderID):
		a.hints.Ignore(kind, "orderId is not one paystream issues")
	case !a.hints.Offer(orderID, r.Header.Get("Tosspayments-Webhook-Transmission-Id")):
		writeProblem(w, Problem{Type: problemBase + "busy", Title: "Webhook queue full", Status: http.StatusServiceUnavailable, retryAfter: "60"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "accepted"})
}

type resolveBody struct {
	Resolution *string `json:"resolution"`
	Actor      *string `json:"actor"`
	Reason     *string `json:"reason"`
	Force      bool    `json:"force"`
}

// resolve records an operator's manual resolution, checked against Toss's record.
func (a *api) resolve(w http.ResponseWriter, r *http.Request) {
	var body resolveBody
	if err := decodeJSON(w, r, &body); err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if body.Resolution == nil || (*body.Resolution != string(aggregate.StatusSuccess) && *body.Resolution != string(aggregate.StatusFailure)) {
		writeError(w, r, a.log, &badRequest{field: "resolution", msg: "must be SUCCESS or FAILURE"})
		return
	}
	actor, reason, err := actorAndReason(r, body.Reason)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	p, err := a.payments.Resolve(r.Context(), commands.Resolution{OrderID: mux.Vars(r)["orderId"],
		Resolution: aggregate.Status(*body.Resolution), Actor: actor, Reason: reason, Force: body.Force},
		meta(r))
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	setPosition(w, p)
	writeJSON(w, http.StatusOK, viewOf(p))
}

// attentionLimit bounds each list of GET /admin/v1/payments/attention.
const attentionLimit = 1000

type attentionView struct {
	// Escalated payments wait for an operator's resolution.
	Escalated []paymentView `json:"escalated"`
	// Open payments are UNKNOWN, or EXECUTING for longer than stuckAfter; recovery is on them.
	Open      []paymentView `json:"open"`
	Truncated bool          `json:"truncated,omitempty"`
}

// attention lists what operators should look at: escalated payments and open ones.
func (a *api) attention(w http.ResponseWriter, r *http.Request) {
	if a.readModel == nil {
		writeProblem(w, Problem{Type: problemBase + "no-read-model", Title: "No read model is configured",
			Status: http.StatusNotImplemented})
		return
	}
	stuckAfter := a.executingTimeout
	if v := r.URL.Query().Get("stuckAfter"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			writeError(w, r, a.log, &badRequest{field: "stuckAfter", msg: "must be a duration such as 1m"})
			return
		}
		stuckAfter = d
	}
	out := attentionView{Escalated: []paymentView{}, Open: []paymentView{}}
	stuckBefore := time.Now().Add(-stuckAfter)
	for _, st := range []aggregate.Status{aggregate.StatusUnknown, aggregate.StatusExecuting} {
		f := projections.Filter{Status: st, Limit: projections.MaxLimit}
		for {
			page, err := a.readModel.List(r.Context(), f)
			if err != nil {
				writeError(w, r, a.log, err)
				return
			}
			for _, p := range page.Items {
				switch {
				case p.Escalated:
					out.Escalated = append(out.Escalated, viewOfRow(p))
				case projections.StateOf(p).Open(stuckBefore): // recovery's own rule
					out.Open = append(out.Open, viewOfRow(p))
				}
			}
			if page.NextCursor == "" {
				break
			}
			if len(out.Escalated)+len(out.Open) >= attentionLimit {
				out.Truncated = true
				break
			}
			f.Cursor = page.NextCursor
		}
	}
	writeJSON(w, http.StatusOK, out)
}
