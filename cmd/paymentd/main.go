// Command paymentd is the paystream payment service.
//
// With no configuration it runs the embedded default: events in memory (or in
// PAYSTREAM_DATA_DIR), the sample catalog, and the Toss simulator in-process on TOSSSIM_ADDR
// (where curl can play the buyer's widget). With TOSS_API_URL and TOSS_SECRET_KEY it talks
// to Toss. See README.md for every variable.
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/paystream/paystream"
	"github.com/paystream/paystream/access"
	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/catalog"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/console"
	"github.com/paystream/paystream/httpapi"
	"github.com/paystream/paystream/progress"
	"github.com/paystream/paystream/toss"
	"github.com/paystream/paystream/toss/tosssim"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "-healthcheck" {
		// For container health checks: the image has no curl.
		if err := healthcheck(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	cfg, err := LoadConfig(os.Args[1:], os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// Here and not in runConfig: the scheduler is the process's, and the specs start paymentd
	// many times in theirs.
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(schedulerWidth(cfg) * runtime.GOMAXPROCS(0))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runConfig(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// schedulerWidth is how many goroutines paymentd lets run Go code at once per CPU that Go
// would use (GOMAXPROCS, unless that variable is set). A payment's path is a pipeline of
// goroutines woken one by the next: by fsyncs and Pebble's writes with a data directory,
// by channels and sockets in both modes. With one P per core a goroutine woken or back
// from a system call queues behind CPU-bound work (JSON; the garbage collector's marking,
// which takes a whole P of two while it runs; Pebble's compactions) for up to Go's 10 ms
// time slice, at every step, and the waits add up. With more Ps than cores the kernel
// schedules the threads, and it runs a woken thread promptly; every P more also costs CPU
// (threads woken and put back to sleep, idle Ps marking for the collector). On two cores,
// approved→done p99 at half the maximum rate after 22,000 payments, and CPU per payment at
// full rate, by Ps per CPU (docs/performance.md has the runs):
//
//	              p99, data directory   p99, memory    CPU per payment, memory
//	1 per CPU     155–345 ms            213–304 ms     1,109–1,326 µs
//	2 per CPU      65–100 ms             50–106 ms     1,217–1,256 µs
//	3 per CPU           —                35–55 ms      1,369–1,487 µs
//	4 per CPU      50–93 ms              33–69 ms      1,665–1,820 µs
//
// A data directory, whose fsyncs and Pebble writes hold threads in system calls, gets 4
// (its CPU per payment did not grow with them); memory mode 3.
func schedulerWidth(cfg Config) int {
	if cfg.DataDir != "" {
		return 4
	}
	return 3
}

// simulatorKey is the secret key paymentd and its in-process simulator share. It opens
// nothing but that simulator.
const simulatorKey = toss.SecretKey("test_sk_paystream_embedded_simulator")

// run loads the configuration from args and getenv, then runs it (runConfig).
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := LoadConfig(args, getenv)
	if err != nil {
		return err
	}
	return runConfig(ctx, cfg, stdout)
}

// runConfig starts paymentd and serves until ctx ends, then shuts down gracefully: in-flight
// requests (confirms included) finish, then the event store closes. Logs go to stdout.
func runConfig(ctx context.Context, cfg Config, stdout io.Writer) error {
	log := newLogger(cfg, stdout)
	keys, err := startKeys(ctx, cfg, stdout, log)
	if err != nil {
		return err
	}

	store, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer store.Close()

	products, err := loadCatalog(cfg.CatalogPath)
	if err != nil {
		return err
	}

	tossURL, key := cfg.TossAPIURL, cfg.TossSecretKey
	var sim *tosssim.Simulator // in-process, when no Toss API is configured
	if tossURL == "" {
		if sim, err = startSimulator(cfg); err != nil {
			return err
		}
		defer func() { // its webhooks stop after paymentd's listener, its database after its own
			if err := sim.Close(); err != nil {
				log.Error("close the toss simulator", "err", err)
			}
		}()
		simSrv, simAddr, err := serve(sim, cfg.SimulatorAddr, serverTimeouts(cfg))
		if err != nil {
			return fmt.Errorf("TOSSSIM_ADDR %s: %w", cfg.SimulatorAddr, err)
		}
		defer simSrv.Close()
		tossURL, key = "http://"+simAddr, simulatorKey
		fmt.Fprintf(stdout, "tosssim listening on %s\n", tossURL)
	}
	psp := toss.NewClient(tossURL, key, toss.WithHTTPClient(&http.Client{Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment, MaxIdleConns: 512, MaxIdleConnsPerHost: 512,
		IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second, ForceAttemptHTTP2: true,
	}}))

	readModels, err := startReadModels(ctx, cfg, store, log)
	if err != nil {
		return err
	}
	defer readModels.close()
	depositKey, err := depositSecretKey(cfg)
	if err != nil {
		return err
	}
	// One registry for /metrics: the Go runtime, the process, and what each part adds.
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	svc := commands.New(commands.Config{Store: readModels.track(store), PSP: toss.NewPSP(psp), Catalog: products, Logger: log,
		Observer:       httpapi.NewLatency(registry),
		ConfirmTimeout: cfg.ConfirmTimeout, Recovery: aggregate.RecoveryPolicy{ExecutingTimeout: cfg.Recovery.ExecutingTimeout,
			Threshold: cfg.Recovery.Threshold, BackoffBase: cfg.Recovery.BackoffBase, BackoffMax: cfg.Recovery.BackoffMax},
		Limits: cfg.Limits, DepositSecretKey: depositKey})
	// Webhooks are stored in the event store before they are answered; the backlog is bounded.
	inbox := commands.NewWebhookInbox(svc, 100_000, 0)
	workers := startWorkers(log, cfg, svc, inbox, readModels.store)
	defer workers.stop()
	// Followers report progress: readiness and /metrics show a stalled one.
	followers := progress.NewBoard()
	registry.MustRegister(httpapi.FollowerMetrics(followers))
	head := func() uint64 { return uint64(readModels.lastWritten()) }
	projector := readModels.projector
	projectorProgress := followers.Track("projector", func() uint64 {
		if !projector.Status().Active {
			return 0 // standing by: another instance projects
		}
		return head()
	})
	watchCtx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWatch()
	go progress.Poll(watchCtx, 500*time.Millisecond, func() {
		if err := projector.Health(); err != nil {
			projectorProgress.Failed(err)
			return
		}
		projectorProgress.Advanced(uint64(projector.Status().Checkpoint))
	})
	downstream, tieOut, settle, err := startKafka(ctx, cfg.Kafka, cfg.DatabaseURL, store, svc, log,
		func(addr string) { fmt.Fprintf(stdout, "kafka listening on %s\n", addr) }, followers, head, readModels.lease())
	if err != nil {
		return err
	}
	defer downstream()
	// Reconciliation with Toss: on demand (operator routes), and every
	// PAYSTREAM_RECONCILE_INTERVAL when set; Toss's settlements are booked in the ledger the
	// books report on (stopped before it).
	reconciler := newReconciler(log, psp, svc, store, readModels.store, settle)
	if cfg.ReconcileInterval > 0 {
		defer reconcileSchedule(log, reconciler, cfg.ReconcileInterval, time.Now)()
	}
	anchorer, stopAnchors, err := startAnchors(cfg, store, log)
	if err != nil {
		return err
	}
	defer stopAnchors()
	var anchors httpapi.Anchors
	if anchorer != nil {
		anchors = anchorer
	}
	handler := httpapi.NewHandler(svc, httpapi.Options{Logger: log, Hints: inbox, Signals: svc.Signals, Anchors: anchors, Registry: registry,
		ReadModel: readModels.store, Written: readModels.lastWritten, ExecutingTimeout: cfg.Recovery.ExecutingTimeout, Reconciliations: reconciler,
		Books: tieOut,
		Ready: func(ctx context.Context) error {
			if err := followers.Stalled(); err != nil {
				return err
			}
			_, err := store.ReadStream(ctx, aggregate.StreamName("readiness-probe"))
			return err
		}})

	// The console under /console/: its pages, and sessions that Protect accepts instead of a key.
	sessions := console.NewSessions(keys, console.SessionOptions{})
	root := http.NewServeMux()
	root.Handle("/", readModels.withAdmin(handler))
	root.Handle("/console/", console.Handler(sessions, console.Options{Logger: log}))
	protected := httpapi.Protect(httpapi.Instrument(root, registry), keys,
		httpapi.ProtectOptions{Logger: log, Limiter: access.NewLimiter(cfg.Access.WriteRate, nil), Registry: registry, Sessions: sessions})
	if cfg.OperatorAddr != "" {
		opSrv, opAddr, err := serve(operatorHandler(registry), cfg.OperatorAddr, operatorTimeouts(cfg))
		if err != nil {
			return fmt.Errorf("PAYSTREAM_OPERATOR_ADDR %s: %w", cfg.OperatorAddr, err)
		}
		defer opSrv.Close()
		fmt.Fprintf(stdout, "operator listener on http://%s (/debug/pprof/, /metrics)\n", opAddr)
	}
	srv, addr, err := serve(protected, cfg.Addr, serverTimeouts(cfg))
	if err != nil {
		return fmt.Errorf("PAYSTREAM_ADDR %s: %w", cfg.Addr, err)
	}
	if sim != nil {
		// Toss's webhooks go to this paymentd, whose address is known once it listens.
		sim.SetWebhookURL("http://" + addr + "/v1/webhooks/toss")
	}
	mode := storeMode(cfg)
	log.Info("paymentd started", "addr", addr, "events", mode, "read_models", readModels.mode(), "toss", tossURL, "toss_key", key)
	fmt.Fprintf(stdout, "paymentd listening on http://%s\n", addr)
	fmt.Fprintf(stdout, "console on http://%s/console/\n", addr)

	<-ctx.Done()
	log.Info("shutting down", "grace", cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// timeouts bound what one connection may hold: a client that sends its headers or body a
// byte a second, or never reads its answer, is cut off instead of keeping a goroutine and a
// connection for ever.
type timeouts struct {
	header, read, write, idle time.Duration
}

// serverTimeouts gives a request its headers in 5 s and its whole body in 10 s (bodies are
// at most 64 KiB), and a handler time to confirm at Toss (PAYSTREAM_CONFIRM_TIMEOUT) and
// record the outcome before its answer must be written.
func serverTimeouts(cfg Config) timeouts {
	return timeouts{header: 5 * time.Second, read: 10 * time.Second, write: cfg.ConfirmTimeout + 15*time.Second,
		idle: 2 * time.Minute}
}

// maxHeaderBytes bounds a request's headers (Go's default is 1 MiB).
const maxHeaderBytes = 32 << 10

// serve listens on addr and serves h in the background; it returns the bound address (for
// ":0").
func serve(h http.Handler, addr string, t timeouts) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: t.header, ReadTimeout: t.read, WriteTimeout: t.write,
		IdleTimeout: t.idle, MaxHeaderBytes: maxHeaderBytes}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("serve", "addr", addr, "err", err)
		}
	}()
	return srv, ln.Addr().String(), nil
}

// simulatorDir is where the in-process simulator keeps its payments inside
// PAYSTREAM_DATA_DIR, so that its Go memory does not grow with them and Toss's side of the
// payments survives a restart as the events do.
const simulatorDir = "tosssim"

// simulatorWebhookWorkers is how many webhooks the in-process simulator has in flight, and
// simulatorWebhookQueue how many it holds for delivery. Toss does not drop a webhook
// because the merchant is slow, so the queue is sized for what a burst backs up: at full
// rate with a data directory on a slower 2-core machine, the default of 1,024 overflowed
// (390–908 of 22,000 webhooks dropped at ~740 payments/s). A full queue holds ~2 KB per
// webhook: 128 MiB if paymentd stopped taking them altogether.
const (
	simulatorWebhookWorkers = 64
	simulatorWebhookQueue   = 1 << 16
)

// startSimulator makes the in-process Toss simulator: in memory, or with a data directory
// in its simulatorDir.
func startSimulator(cfg Config) (*tosssim.Simulator, error) {
	// The simulator's defaults (two attempts in flight, a queue of 1,024) fall behind what a
	// 2-core machine confirms and drop webhooks; see simulatorWebhookWorkers.
	opts := tosssim.Options{SecretKeys: []string{string(simulatorKey)}, Seed: time.Now().UnixNano(),
		Webhooks: tosssim.WebhookOptions{Workers: simulatorWebhookWorkers, QueueSize: simulatorWebhookQueue}}
	if cfg.DataDir == "" {
		return tosssim.New(opts), nil
	}
	sim, err := tosssim.Open(filepath.Join(cfg.DataDir, simulatorDir), opts)
	if err != nil {
		return nil, fmt.Errorf("PAYSTREAM_DATA_DIR: toss simulator: %w", err)
	}
	return sim, nil
}

// healthcheck succeeds when url answers 200 within 2 s.
func healthcheck(url string) error {
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	return nil
}

func loadCatalog(path string) (*catalog.Catalog, error) {
	if path == "" {
		return catalog.Parse(paystream.SampleCatalog)
	}
	c, err := catalog.Load(path)
	if err != nil {
		return nil, fmt.Errorf("PAYSTREAM_CATALOG %s: %w", path, err)
	}
	return c, nil
}

func newLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// depositSecretKey keys the hash of virtual accounts' secrets: PAYSTREAM_WEBHOOK_SECRET_KEY;
// with TOSS_API_URL and no such key, one derived from TOSS_SECRET_KEY (the same on every
// instance, never in the event store); in the embedded default one made once and kept in the
// data directory (webhook-secret.key, 0600) or, in memory, for this run.
func depositSecretKey(cfg Config) ([]byte, error) {
	switch {
	case cfg.WebhookSecretKey != "":
		return []byte(string(cfg.WebhookSecretKey)), nil
	case cfg.TossAPIURL != "":
		m := hmac.New(sha256.New, []byte(string(cfg.TossSecretKey)))
		m.Write([]byte("paystream deposit secrets v1"))
		return m.Sum(nil), nil
	case cfg.DataDir == "":
		k := make([]byte, 32)
		_, err := rand.Read(k)
		return k, err
	}
	path := filepath.Join(cfg.DataDir, "webhook-secret.key")
	k, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k = []byte(hex.EncodeToString(randomBytes(32)))
		if err = os.MkdirAll(cfg.DataDir, 0o700); err == nil {
			err = os.WriteFile(path, k, 0o600)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("PAYSTREAM_DATA_DIR: webhook secret key: %w", err)
	}
	return bytes.TrimSpace(k), nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}
