package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/paystream/paystream/toss/tosssim"
)

const shutdownTimeout = 10 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tosssim:", err)
		os.Exit(1)
	}
}

type config struct {
	addr       string
	seed       int64
	secretKeys []string
	// Webhooks: the merchant's endpoint ("" sends none) and the retry schedule's compression.
	webhookURL   string
	webhookScale float64
	// dataDir keeps the payments on disk ("" in memory).
	dataDir string
}

// loadConfig reads the environment, then the flags, and reports every problem at once.
func loadConfig(args []string, getenv func(string) string) (config, error) {
	cfg := config{addr: "127.0.0.1:8090"}
	var errs []error
	if v := getenv("TOSSSIM_ADDR"); v != "" {
		if err := checkAddr(v); err != nil {
			errs = append(errs, fmt.Errorf("TOSSSIM_ADDR: %w", err))
		}
		cfg.addr = v
	}
	if v := getenv("TOSSSIM_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("TOSSSIM_SEED: %q is not a 64-bit integer", v))
		}
		cfg.seed = n
	}
	if v := getenv("TOSSSIM_SECRET_KEYS"); v != "" {
		for i, k := range strings.Split(v, ",") {
			k = strings.TrimSpace(k)
			if k == "" || strings.ContainsAny(k, ": \t") {
				// The value is a secret: say where, not what.
				errs = append(errs, fmt.Errorf("TOSSSIM_SECRET_KEYS: entry %d is empty or contains ':' or blanks", i+1))
				continue
			}
			cfg.secretKeys = append(cfg.secretKeys, k)
		}
	}

	if v := getenv("TOSSSIM_WEBHOOK_URL"); v != "" {
		if err := checkURL(v); err != nil {
			errs = append(errs, fmt.Errorf("TOSSSIM_WEBHOOK_URL: %w", err))
		}
		cfg.webhookURL = v
	}
	if v := getenv("TOSSSIM_WEBHOOK_RETRY_SCALE"); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || !(n >= 1) || math.IsInf(n, 0) {
			errs = append(errs, fmt.Errorf("TOSSSIM_WEBHOOK_RETRY_SCALE: %q is not a number of at least 1", v))
		}
		cfg.webhookScale = n
	}

	cfg.dataDir = getenv("TOSSSIM_DATA_DIR")

	fs := flag.NewFlagSet("tosssim", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // the error is returned and printed once by main
	fs.Func("addr", "listen address (env TOSSSIM_ADDR)", func(v string) error {
		cfg.addr = v
		return checkAddr(v)
	})
	fs.Int64Var(&cfg.seed, "seed", cfg.seed, "seed of the fault decisions (env TOSSSIM_SEED)")
	fs.StringVar(&cfg.dataDir, "data-dir", cfg.dataDir, "keep the payments in this directory (env TOSSSIM_DATA_DIR)")
	if err := fs.Parse(args); err != nil {
		errs = append(errs, err)
	} else if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	return cfg, errors.Join(errs...)
}

// checkURL accepts an absolute http or https URL.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("%q is not an http:// or https:// URL with a host", raw)
	}
	return nil
}

func checkAddr(addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	return nil
}

// newSimulator makes the simulator cfg describes: in memory, or keeping its payments in
// cfg.dataDir.
func newSimulator(cfg config) (*tosssim.Simulator, error) {
	opts := tosssim.Options{SecretKeys: cfg.secretKeys, Seed: cfg.seed,
		Webhooks: tosssim.WebhookOptions{URL: cfg.webhookURL, RetryScale: cfg.webhookScale}}
	if cfg.dataDir == "" {
		return tosssim.New(opts), nil
	}
	sim, err := tosssim.Open(cfg.dataDir, opts)
	if err != nil {
		return nil, fmt.Errorf("TOSSSIM_DATA_DIR: %w", err)
	}
	return sim, nil
}

// run serves the simulator until ctx ends, then shuts down gracefully.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := loadConfig(args, getenv)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stdout, nil))

	sim, err := newSimulator(cfg)
	if err != nil {
		return err
	}
	defer func() { // after the server: no request is left to emit a webhook or write
		if err := sim.Close(); err != nil {
			log.Error("close", "err", err)
		}
	}()
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.addr, err)
	}
	// Bounded like paymentd's listener: a client trickling its request or never reading the
	// answer is cut off. The write timeout leaves room for injected latency faults.
	srv := &http.Server{
		Handler:           sim,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("listening", "addr", ln.Addr().String(), "seed", cfg.seed, "secret_keys", len(cfg.secretKeys),
		"webhook_url", cfg.webhookURL, "data_dir", cfg.dataDir)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		// Requests hanging in a timeout fault wait for their callers; closing ends them.
		log.Warn("graceful shutdown timed out, closing connections", "err", err)
		srv.Close()
	}
	log.Info("stopped")
	return nil
}
