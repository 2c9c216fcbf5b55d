package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
)

// registerMetrics adds what the handler knows to reg (or to a registry of its own).
func (a *api) registerMetrics(reg *prometheus.Registry) {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	a.registry = reg
	if a.signals != nil {
		reg.MustRegister(signalsCollector{signals: a.signals})
	}
	if a.readModel != nil {
		reg.MustRegister(attentionCollector{readModel: a.readModel, executingTimeout: a.executingTimeout})
	}
}

// latencyBuckets suit a request to Toss: tens of milliseconds when well, up to the confirm
// timeout (15 s by default) when not.
var latencyBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30}

// Latency records how long confirms and PSP requests took, by outcome, as histograms
// (paystream_confirm_duration_seconds, paystream_psp_request_duration_seconds). It is a
// commands.Observer. Safe for concurrent use.
type Latency struct {
	confirm, psp *prometheus.HistogramVec
}

// NewLatency returns a Latency registered with reg. It panics if reg already has its
// metrics (a wiring mistake).
func NewLatency(reg prometheus.Registerer) *Latency {
	l := &Latency{
		confirm: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "paystream_confirm_duration_seconds",
			Help:    "Confirms that reached the PSP, from the claim to the recorded outcome, by outcome (ERROR: not recorded).",
			Buckets: latencyBuckets}, []string{"outcome"}),
		psp: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "paystream_psp_request_duration_seconds",
			Help:    "Requests to the PSP (confirm, cancel, lookup), each attempt, by outcome (a status, RETRY, LOOKUP, UNDECIDED, ERROR).",
			Buckets: latencyBuckets}, []string{"operation", "outcome"}),
	}
	reg.MustRegister(l.confirm, l.psp)
	return l
}

// Confirmed implements commands.Observer.
func (l *Latency) Confirmed(outcome string, d time.Duration) {
	l.confirm.WithLabelValues(outcome).Observe(d.Seconds())
}

// PSPRequested implements commands.Observer.
func (l *Latency) PSPRequested(operation, outcome string, d time.Duration) {
	l.psp.WithLabelValues(operation, outcome).Observe(d.Seconds())
}

// routeKey carries a *string the router fills with the matched route's template.
type routeKey struct{}

// noteRoute tells Instrument which route template the router matched.
func noteRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if into, ok := r.Context().Value(routeKey{}).(*string); ok {
			if t, err := mux.CurrentRoute(r).GetPathTemplate(); err == nil {
				*into = t
			}
		}
		next.ServeHTTP(w, r)
	})
}

// Instrument counts the requests next serves and times them, by method, route template
// (as this package's router matched it, or the pattern of an http.ServeMux that next is
// or passes the request to unchanged; "unmatched" otherwise) and status
// (paystream_http_requests_total, paystream_http_request_duration_seconds). Put it inside
// Protect: refusals are counted there (paystream_auth_failures_total). Metrics are
// registered with reg; it panics if they already are. Safe for concurrent use.
func Instrument(next http.Handler, reg prometheus.Registerer) http.Handler {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "paystream_http_requests_total",
		Help: "HTTP requests answered, by method, route template and status code."}, []string{"method", "route", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "paystream_http_request_duration_seconds",
		Help: "Time to answer HTTP requests, by method and route template.", Buckets: prometheus.DefBuckets},
		[]string{"method", "route"})
	reg.MustRegister(requests, duration)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		route := ""
		r = r.WithContext(context.WithValue(r.Context(), routeKey{}, &route))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if route == "" && r.Pattern != "" && r.Pattern != "/" {
			// An http.ServeMux sets the pattern on the request it was given.
			_, route, _ = strings.Cut(r.Pattern, " ")
			if route == "" {
				route = r.Pattern
			}
		}
		if route == "" {
			route = "unmatched"
		}
		method := r.Method
		switch method {
		case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions:
		default:
			method = "other" // the label set stays bounded whatever a caller sends
		}
		requests.WithLabelValues(method, route, strconv.Itoa(sw.status())).Inc()
		duration.WithLabelValues(method, route).Observe(time.Since(start).Seconds())
	})
}
