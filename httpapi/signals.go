package httpapi

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/progress"
)

// alertWindow: a readiness answer reports "degraded" for this long after an operator alert.
const alertWindow = 15 * time.Minute

// readiness is GET /readyz's body.
type readiness struct {
	Status string            `json:"status"` // ready | degraded
	Alerts map[string]string `json:"alerts,omitempty"`
}

func (a *api) readyz(w http.ResponseWriter, r *http.Request) {
	if a.ready != nil {
		if err := a.ready(r.Context()); err != nil {
			writeProblem(w, Problem{Type: problemBase + "not-ready", Title: "Not ready", Status: http.StatusServiceUnavailable,
				Detail: err.Error()})
			return
		}
	}
	body := readiness{Status: "ready"}
	if a.signals != nil {
		// Still ready: taking this instance out of rotation fixes neither a bad Toss key
		// nor an escalated payment. Degraded says a person is needed.
		s := a.signals()
		if !s.LastAlertAt.IsZero() && time.Since(s.LastAlertAt) < alertWindow {
			body.Status = "degraded"
			body.Alerts = map[string]string{"lastOperatorAlert": s.LastAlert, "at": s.LastAlertAt.Format(time.RFC3339)}
		}
		if s.Escalations > 0 {
			if body.Alerts == nil {
				body.Alerts = map[string]string{}
			}
			body.Alerts["escalatedSinceStart"] = fmt.Sprint(s.Escalations)
		}
	}
	writeJSON(w, http.StatusOK, body)
}

// metrics renders the operator signals in Prometheus's text format.
func (a *api) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	if a.signals == nil {
		return
	}
	s := a.signals()
	counter := func(name, help string, v int64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	fmt.Fprintf(w, "# HELP paystream_psp_outcomes_total PSP outcomes recorded, by status (NOT_STARTED: aborted by our configuration).\n")
	fmt.Fprintf(w, "# TYPE paystream_psp_outcomes_total counter\n")
	statuses := make([]aggregate.Status, 0, len(s.Outcomes))
	for st := range s.Outcomes {
		statuses = append(statuses, st)
	}
	slices.Sort(statuses)
	for _, st := range statuses {
		fmt.Fprintf(w, "paystream_psp_outcomes_total{status=%q} %d\n", st, s.Outcomes[st])
	}
	counter("paystream_recovery_attempts_total", "Recovery attempts claimed.", s.RecoveryAttempts)
	counter("paystream_escalations_total", "Payments escalated to manual handling.", s.Escalations)
	counter("paystream_manual_resolutions_total", "Operator resolutions requested.", s.ManualResolutions)
	counter("paystream_psp_contradictions_total", "Toss records found contradicting a recorded outcome.", s.Contradictions)
	counter("paystream_operator_alerts_total", "Conditions that need an operator.", s.OperatorAlerts)
	counter("paystream_deposit_callbacks_refused_total", "Deposit callbacks refused because their secret did not match the account's.", s.ForgedDepositCallbacks)
	counter("paystream_late_deposits_total", "Deposits found at Toss after the virtual account was expired or closed.", s.LateDeposits)
	counter("paystream_webhooks_stored_total", "Webhooks stored in the inbox before they were answered.", s.WebhooksStored)
	fmt.Fprintf(w, "# HELP paystream_webhook_backlog Webhooks stored in the inbox and not worked off yet.\n")
	fmt.Fprintf(w, "# TYPE paystream_webhook_backlog gauge\npaystream_webhook_backlog %d\n", s.WebhookBacklog)
	var last float64
	if !s.LastAlertAt.IsZero() {
		last = float64(s.LastAlertAt.UnixNano()) / 1e9
	}
	fmt.Fprintf(w, "# HELP paystream_last_operator_alert_timestamp_seconds When the last operator alert was raised (0: never).\n")
	fmt.Fprintf(w, "# TYPE paystream_last_operator_alert_timestamp_seconds gauge\npaystream_last_operator_alert_timestamp_seconds %g\n", last)
}

// Followers is what /metrics needs of the followers' progress (*progress.Board).
type Followers interface {
	Reports() []progress.Report
}

// WithFollowerMetrics serves next, adding each follower's progress to the end of
// GET /metrics. Readiness takes followers into account through Options.Ready.
func WithFollowerMetrics(next http.Handler, f Followers) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(w, r)
		if r.Method == http.MethodGet && r.URL.Path == "/metrics" {
			writeFollowerMetrics(w, f.Reports())
		}
	})
}

func writeFollowerMetrics(w io.Writer, reports []progress.Report) {
	gauge := func(name, help string, value func(progress.Report) (float64, bool)) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name)
		for _, r := range reports {
			if v, ok := value(r); ok {
				fmt.Fprintf(w, "%s{follower=%q} %g\n", name, r.Name, v)
			}
		}
	}
	gauge("paystream_follower_stalled", "1 while a follower is stalled (stopped with an error, silent, or behind without progress).",
		func(r progress.Report) (float64, bool) {
			if r.Stalled {
				return 1, true
			}
			return 0, true
		})
	gauge("paystream_follower_last_progress_age_seconds", "Seconds since the follower last advanced (or started).",
		func(r progress.Report) (float64, bool) { return r.SinceAdvance.Seconds(), true })
	gauge("paystream_follower_last_heartbeat_age_seconds", "Seconds since the follower last reported it was alive.",
		func(r progress.Report) (float64, bool) { return r.SinceBeat.Seconds(), true })
	gauge("paystream_follower_position", "Where the follower has got to: an event-store position (projector, forwarder) or records handled since start (Kafka consumers).",
		func(r progress.Report) (float64, bool) { return float64(r.Position), true })
	gauge("paystream_follower_behind", "How far the follower trails the newest event this instance appended (followers of the event store).",
		func(r progress.Report) (float64, bool) { return float64(r.Behind), r.Head > 0 })
}
