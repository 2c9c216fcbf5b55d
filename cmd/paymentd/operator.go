package main

import (
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// operatorHandler serves PAYSTREAM_OPERATOR_ADDR: Go's profiler under /debug/pprof/ and the
// registry's metrics under /metrics, without an API key — the address is the protection,
// so it belongs on the operators' network only. Nothing here is reachable on PAYSTREAM_ADDR:
// the handlers are registered on this mux alone (importing net/http/pprof also registers
// them on http.DefaultServeMux, which paymentd never serves).
func operatorHandler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index) // the named profiles: heap, goroutine, allocs, …
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}

// operatorTimeouts are serverTimeouts with time to write a CPU profile or trace: pprof
// refuses ?seconds= at or above the write timeout, and its default profile takes 30 s.
func operatorTimeouts(cfg Config) timeouts {
	t := serverTimeouts(cfg)
	t.write = max(t.write, 2*time.Minute)
	return t
}
