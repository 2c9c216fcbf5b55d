package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/gorilla/mux"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/projections"
)

// Hints takes Toss webhooks for background reconciliation (commands.WebhookInbox).
type Hints interface {
	// Accept stores the webhook durably (a duplicate transmission is accepted once); an
	// error means it was not stored and Toss should retry.
	Accept(ctx context.Context, w commands.Webhook) error
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

// webhook answers every well-formed Toss webhook 200 once it is safe: Toss retries anything
// else for days and then e-mails the merchant, and does not resend one answered 200. One
// that names a payment (PAYMENT_STATUS_CHANGED's data.orderId, DEPOSIT_CALLBACK's orderId) is
// stored in the inbox first, then answered — webhooks are unsigned, so what they claim is
// looked up, never believed; a DEPOSIT_CALLBACK's secret travels with it (stored as a keyed
// hash) and is checked against the payment's when it is worked off. A wrong secret is still
// answered 200: it is refused, counted and alerted there, and a non-200 would only make the
// sender (the forger, or Toss itself if our stored secret were wrong) retry for days to no
// effect. The rest (CANCEL_STATUS_CHANGED, BILLING_DELETED, payout.changed, seller.changed,
// …) are counted and logged. Only a body that is not a JSON object is refused (400); an
// inbox that is full or cannot store answers 503 so that Toss retries later.
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
	var eventType, orderID, secret, status string
	_ = json.Unmarshal(body["eventType"], &eventType) // absent or not a string: ""
	_ = json.Unmarshal(body["orderId"], &orderID)
	_ = json.Unmarshal(body["status"], &status)
	var data struct {
		OrderID string `json:"orderId"`
		Status  string `json:"status"`
	}
	if json.Unmarshal(body["data"], &data) == nil && data.OrderID != "" {
		orderID, status = data.OrderID, data.Status
	}
	kind := webhookType(eventType, body["secret"] != nil)
	if kind == "DEPOSIT_CALLBACK" {
		_ = json.Unmarshal(body["secret"], &secret)
	}
	switch {
	case orderID == "":
		a.hints.Ignore(kind, "names no payment")
	case !aggregate.ValidOrderID(orderID):
		a.hints.Ignore(kind, "orderId is not one paystream issues")
	default:
		err := a.hints.Accept(r.Context(), commands.Webhook{TransmissionID: r.Header.Get("Tosspayments-Webhook-Transmission-Id"),
			EventType: kind, OrderID: orderID, Secret: aggregate.Secret(secret), Status: truncate(status, 40)})
		if err != nil {
			a.log.Error("webhook not stored; Toss will retry", "order_id", orderID, "event_type", kind, "err", err)
			writeProblem(w, Problem{Type: problemBase + "busy", Title: "Webhook not stored", Status: http.StatusServiceUnavailable, retryAfter: "60"})
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "accepted"})
}

// truncate bounds a string a caller controls before it is stored.
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
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
