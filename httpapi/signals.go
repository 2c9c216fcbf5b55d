package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/progress"
	"github.com/paystream/paystream/projections"
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

// metrics serves the registry in Prometheus's formats.
func (a *api) metrics(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{ErrorLog: slogPrinter{a.log}}).ServeHTTP(w, r)
}

// slogPrinter logs the registry's gathering errors once, as errors.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) { p.log.Error("metrics", "err", fmt.Sprint(v...)) }

// signalsCollector exposes the service's operator signals (commands.Signals): counters
// since the process started, read at every scrape.
type signalsCollector struct {
	signals func() commands.Signals
}

var (
	descOutcomes = prometheus.NewDesc("paystream_psp_outcomes_total",
		"PSP outcomes recorded, by status (NOT_STARTED: aborted by our configuration).", []string{"status"}, nil)
	signalCounters = []struct {
		desc  *prometheus.Desc
		value func(commands.Signals) int64
	}{
		{prometheus.NewDesc("paystream_recovery_attempts_total", "Recovery attempts claimed.", nil, nil),
			func(s commands.Signals) int64 { return s.RecoveryAttempts }},
		{prometheus.NewDesc("paystream_escalations_total", "Payments escalated to manual handling.", nil, nil),
			func(s commands.Signals) int64 { return s.Escalations }},
		{prometheus.NewDesc("paystream_manual_resolutions_total", "Operator resolutions requested.", nil, nil),
			func(s commands.Signals) int64 { return s.ManualResolutions }},
		{prometheus.NewDesc("paystream_psp_contradictions_total", "Toss records found contradicting a recorded outcome.", nil, nil),
			func(s commands.Signals) int64 { return s.Contradictions }},
		{prometheus.NewDesc("paystream_operator_alerts_total", "Conditions that need an operator.", nil, nil),
			func(s commands.Signals) int64 { return s.OperatorAlerts }},
		{prometheus.NewDesc("paystream_deposit_callbacks_refused_total", "Deposit callbacks refused because their secret did not match the account's.", nil, nil),
			func(s commands.Signals) int64 { return s.ForgedDepositCallbacks }},
		{prometheus.NewDesc("paystream_late_deposits_total", "Deposits found at Toss after the virtual account was expired or closed.", nil, nil),
			func(s commands.Signals) int64 { return s.LateDeposits }},
		{prometheus.NewDesc("paystream_deposits_withdrawn_total", "Deposits Toss withdrew after a deposit error (DONE back to WAITING_FOR_DEPOSIT).", nil, nil),
			func(s commands.Signals) int64 { return s.DepositsWithdrawn }},
		{prometheus.NewDesc("paystream_webhooks_stored_total", "Webhooks stored in the inbox before they were answered.", nil, nil),
			func(s commands.Signals) int64 { return s.WebhooksStored }},
	}
	descBacklog   = prometheus.NewDesc("paystream_webhook_backlog", "Webhooks stored in the inbox and not worked off yet.", nil, nil)
	descLastAlert = prometheus.NewDesc("paystream_last_operator_alert_timestamp_seconds",
		"When the last operator alert was raised (0: never).", nil, nil)
)

func (c signalsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descOutcomes
	for _, s := range signalCounters {
		ch <- s.desc
	}
	ch <- descBacklog
	ch <- descLastAlert
}

func (c signalsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.signals()
	statuses := make([]aggregate.Status, 0, len(s.Outcomes))
	for st := range s.Outcomes {
		statuses = append(statuses, st)
	}
	slices.Sort(statuses)
	for _, st := range statuses {
		ch <- prometheus.MustNewConstMetric(descOutcomes, prometheus.CounterValue, float64(s.Outcomes[st]), string(st))
	}
	for _, sc := range signalCounters {
		ch <- prometheus.MustNewConstMetric(sc.desc, prometheus.CounterValue, float64(sc.value(s)))
	}
	ch <- prometheus.MustNewConstMetric(descBacklog, prometheus.GaugeValue, float64(s.WebhookBacklog))
	var last float64
	if !s.LastAlertAt.IsZero() {
		last = float64(s.LastAlertAt.UnixNano()) / 1e9
	}
	ch <- prometheus.MustNewConstMetric(descLastAlert, prometheus.GaugeValue, last)
}

// attentionCollector counts what GET /admin/v1/payments/attention lists, by the same
// rules, at every scrape: escalated payments and open ones (UNKNOWN, or EXECUTING past
// the executing timeout). Counting stops at attentionLimit per status.
type attentionCollector struct {
	readModel        ReadModel
	executingTimeout time.Duration
}

var (
	descEscalated = prometheus.NewDesc("paystream_payments_escalated", "Payments escalated to manual handling and not resolved yet (read model).", nil, nil)
	descOpen      = prometheus.NewDesc("paystream_payments_open",
		"Payments whose outcome is open: UNKNOWN, or EXECUTING for longer than the executing timeout (read model).", nil, nil)
)

func (c attentionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descEscalated; ch <- descOpen }

func (c attentionCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stuckBefore := time.Now().Add(-c.executingTimeout)
	var escalated, open int
	for _, st := range []aggregate.Status{aggregate.StatusUnknown, aggregate.StatusExecuting} {
		f := projections.Filter{Status: st, Limit: projections.MaxLimit}
		for n := 0; n < attentionLimit; {
			page, err := c.readModel.List(ctx, f)
			if err != nil {
				ch <- prometheus.NewInvalidMetric(descOpen, fmt.Errorf("list %s payments: %w", st, err))
				return
			}
			for _, p := range page.Items {
				switch {
				case p.Escalated:
					escalated++
				case projections.StateOf(p).Open(stuckBefore):
					open++
				}
			}
			n += len(page.Items)
			if page.NextCursor == "" {
				break
			}
			f.Cursor = page.NextCursor
		}
	}
	ch <- prometheus.MustNewConstMetric(descEscalated, prometheus.GaugeValue, float64(escalated))
	ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue, float64(open))
}

// Followers is what /metrics needs of the followers' progress (*progress.Board).
type Followers interface {
	Reports() []progress.Report
}

// FollowerMetrics exposes each follower's progress (for a registry served on /metrics):
// whether it is stalled, how long ago it advanced and beat, its position, and how far it
// trails the newest event this instance appended (its lag). Readiness takes followers into
// account through Options.Ready.
func FollowerMetrics(f Followers) prometheus.Collector { return followerCollector{f} }

type followerCollector struct{ f Followers }

var followerGauges = []struct {
	desc  *prometheus.Desc
	value func(progress.Report) (float64, bool)
}{
	{prometheus.NewDesc("paystream_follower_stalled", "1 while a follower is stalled (stopped with an error, silent, or behind without progress).", []string{"follower"}, nil),
		func(r progress.Report) (float64, bool) {
			if r.Stalled {
				return 1, true
			}
			return 0, true
		}},
	{prometheus.NewDesc("paystream_follower_last_progress_age_seconds", "Seconds since the follower last advanced (or started).", []string{"follower"}, nil),
		func(r progress.Report) (float64, bool) { return r.SinceAdvance.Seconds(), true }},
	{prometheus.NewDesc("paystream_follower_last_heartbeat_age_seconds", "Seconds since the follower last reported it was alive.", []string{"follower"}, nil),
		func(r progress.Report) (float64, bool) { return r.SinceBeat.Seconds(), true }},
	{prometheus.NewDesc("paystream_follower_position", "Where the follower has got to: an event-store position (projector, forwarder) or records handled since start (Kafka consumers).", []string{"follower"}, nil),
		func(r progress.Report) (float64, bool) { return float64(r.Position), true }},
	{prometheus.NewDesc("paystream_follower_behind", "How far the follower trails the newest event this instance appended (followers of the event store).", []string{"follower"}, nil),
		func(r progress.Report) (float64, bool) { return float64(r.Behind), r.Head > 0 }},
}

func (c followerCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range followerGauges {
		ch <- g.desc
	}
}

func (c followerCollector) Collect(ch chan<- prometheus.Metric) {
	reports := c.f.Reports()
	for _, g := range followerGauges {
		for _, r := range reports {
			if v, ok := g.value(r); ok {
				ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, v, r.Name)
			}
		}
	}
}
