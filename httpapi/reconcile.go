package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/go-json-experiment/json/v1"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/paystream/paystream/reconcile"
)

// Reconciliations is what the operator's reconciliation routes need (*reconcile.Reconciler).
type Reconciliations interface {
	Run(ctx context.Context, period reconcile.Period, startedBy string, progress func(reconcile.Progress)) (reconcile.Report, error)
	Open(ctx context.Context) ([]reconcile.Mismatch, error)
	Latest(ctx context.Context, period reconcile.Period) (reconcile.Report, error)
	Stats() reconcile.Stats
}

// errNoReconciler: this paymentd runs no reconciler.
var errNoReconciler = errors.New("reconciliation is not configured")

// reconcilePeriod reads ?from=&to= (KST days, to inclusive; to defaults to from).
func reconcilePeriod(r *http.Request) (reconcile.Period, error) {
	from, to := r.URL.Query().Get("from"), r.URL.Query().Get("to")
	if from == "" {
		return reconcile.Period{}, &badRequest{field: "from", msg: "required: the first day, as 2026-01-31 (KST)"}
	}
	if to == "" {
		to = from
	}
	p, err := reconcile.ParsePeriod(from, to)
	if err != nil {
		return reconcile.Period{}, &badRequest{field: "from", msg: err.Error()}
	}
	return p, nil
}

// reconcileRun runs a reconciliation of ?from=&to= now, streaming NDJSON: {"progress":…}
// lines while it works and last {"report":…}, or {"error":…} when the run failed after
// it started (the failed run is recorded). The caller's key name is recorded as who started
// it; the fixes are made as the reconciler.
func (a *api) reconcileRun(w http.ResponseWriter, r *http.Request) {
	if a.reconciliations == nil {
		writeError(w, r, a.log, errNoReconciler)
		return
	}
	p, err := reconcilePeriod(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	longRunning(w)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	flush := func() {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	last := reconcile.Progress{}
	rep, err := a.reconciliations.Run(r.Context(), p, actorOf(r.Context()), func(pr reconcile.Progress) {
		if pr.Phase == last.Phase && pr.Of == last.Of && pr.Done-last.Done < 50 && pr.Done != pr.Of {
			return // every 50 steps, each phase's first and last
		}
		last = pr
		_ = enc.Encode(map[string]reconcile.Progress{"progress": pr})
		flush()
	})
	if err != nil {
		a.log.Error("reconciliation run failed", "request_id", requestID(r.Context()), "period", p.ID(), "err", err)
		_ = enc.Encode(map[string]string{"error": err.Error()})
		return
	}
	_ = enc.Encode(map[string]reconcile.Report{"report": rep})
}

// reconcileMismatches lists the mismatches the latest run of each period left open.
func (a *api) reconcileMismatches(w http.ResponseWriter, r *http.Request) {
	if a.reconciliations == nil {
		writeError(w, r, a.log, errNoReconciler)
		return
	}
	open, err := a.reconciliations.Open(r.Context())
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string][]reconcile.Mismatch{"mismatches": open})
}

// reconcileReport answers the latest run of ?from=&to= as JSON, or as CSV with
// ?format=csv (an attachment named after the period).
func (a *api) reconcileReport(w http.ResponseWriter, r *http.Request) {
	if a.reconciliations == nil {
		writeError(w, r, a.log, errNoReconciler)
		return
	}
	p, err := reconcilePeriod(r)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	format := r.URL.Query().Get("format")
	if format != "" && format != "json" && format != "csv" {
		writeError(w, r, a.log, &badRequest{field: "format", msg: "json or csv"})
		return
	}
	rep, err := a.reconciliations.Latest(r.Context(), p)
	if err != nil {
		writeError(w, r, a.log, err)
		return
	}
	if format != "csv" {
		writeJSON(w, http.StatusOK, rep)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="reconciliation-%s-%d.csv"`, p.ID(), rep.Run))
	if err := reconcile.WriteCSV(w, rep); err != nil {
		a.log.Warn("reconciliation CSV not sent whole", "request_id", requestID(r.Context()), "err", err)
	}
}

// reconcileCollector exposes the reconciler's counts on /metrics.
type reconcileCollector struct{ r Reconciliations }

var (
	reconcileMismatchesDesc = prometheus.NewDesc("paystream_reconciliation_mismatches_total",
		"Mismatches with Toss found for the first time by reconciliation runs, by class (auto-fixable, needs-person, unclassifiable).",
		[]string{"class"}, nil)
	reconcileFixedDesc = prometheus.NewDesc("paystream_reconciliation_fixed_total",
		"Auto-fixable mismatches the reconciler fixed through the payment commands.", nil, nil)
	reconcileRunsDesc = prometheus.NewDesc("paystream_reconciliation_runs_total",
		"Reconciliation runs started (scheduled and on demand).", nil, nil)
)

func (c reconcileCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- reconcileMismatchesDesc
	ch <- reconcileFixedDesc
	ch <- reconcileRunsDesc
}

func (c reconcileCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.r.Stats()
	for _, class := range reconcile.Classes {
		ch <- prometheus.MustNewConstMetric(reconcileMismatchesDesc, prometheus.CounterValue, float64(s.New[class]), string(class))
	}
	ch <- prometheus.MustNewConstMetric(reconcileFixedDesc, prometheus.CounterValue, float64(s.Fixed))
	ch <- prometheus.MustNewConstMetric(reconcileRunsDesc, prometheus.CounterValue, float64(s.Runs))
}
