package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/projections"
)

// Hints takes Toss webhook hints for background reconciliation (commands.WebhookInbox).
type Hints interface {
	// Offer reports false when the hint cannot be queued now.
	Offer(orderID, transmissionID string) bool
}

// tossWebhook is PAYMENT_STATUS_CHANGED ({eventType, createdAt, data: Payment}) or
// DEPOSIT_CALLBACK ({createdAt, secret, status, transactionKey, orderId}). Only the orderId
// is used: webhooks are unsigned, so what they claim is looked up, never believed.
type tossWebhook struct {
	EventType string `json:"eventType"`
	OrderID   string `json:"orderId"`
	Data      struct {
		OrderID string `json:"orderId"`
	} `json:"data"`
}

// webhook answers fast: 200 once the hint is queued (or is a duplicate), 503 when the queue
// is full so that Toss retries later.
func (a *api) webhook(w http.ResponseWriter, r *http.Request) {
	var body tossWebhook
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(&body); err != nil {
		writeError(w, r, a.log, &badRequest{msg: "malformed webhook body: " + err.Error()})
		return
	}
	orderID := body.Data.OrderID
	if orderID == "" {
		orderID = body.OrderID
	}
	if !aggregate.ValidOrderID(orderID) {
		writeError(w, r, a.log, &badRequest{field: "data.orderId", msg: "missing or not a valid orderId"})
		return
	}
	if a.hints == nil || !a.hints.Offer(orderID, r.Header.Get("Tosspayments-Webhook-Transmission-Id")) {
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
	switch {
	case body.Resolution == nil || (*body.Resolution != string(aggregate.StatusSuccess) && *body.Resolution != string(aggregate.StatusFailure)):
		writeError(w, r, a.log, &badRequest{field: "resolution", msg: "must be SUCCESS or FAILURE"})
		return
	case body.Actor == nil || strings.TrimSpace(*body.Actor) == "":
		writeError(w, r, a.log, &badRequest{field: "actor", msg: "is required"})
		return
	case body.Reason == nil || strings.TrimSpace(*body.Reason) == "":
		writeError(w, r, a.log, &badRequest{field: "reason", msg: "is required"})
		return
	}
	p, err := a.payments.Resolve(r.Context(), commands.Resolution{OrderID: mux.Vars(r)["orderId"],
		Resolution: aggregate.Status(*body.Resolution), Actor: *body.Actor, Reason: *body.Reason, Force: body.Force},
		meta(r, "operator:"+*body.Actor))
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
	stuckAfter := time.Minute
	if v := r.URL.Query().Get("stuckAfter"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			writeError(w, r, a.log, &badRequest{field: "stuckAfter", msg: "must be a duration such as 1m"})
			return
		}
		stuckAfter = d
	}
	out := attentionView{Escalated: []paymentView{}, Open: []paymentView{}}
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
				case st == aggregate.StatusUnknown || time.Since(p.UpdatedAt) > stuckAfter:
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
