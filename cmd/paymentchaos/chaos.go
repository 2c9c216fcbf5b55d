package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/paystream/paystream/access"
	"github.com/paystream/paystream/kafka/brokertest"
	"github.com/paystream/paystream/postgres/pgtest"
)

type config struct {
	duration    time.Duration // load and faults
	seed        int64
	rate        float64 // payment flows started per second
	concurrency int
	maxPayments int
	maxFaults   int
	converge    time.Duration // bound on the wait for convergence
	keep        bool          // keep the work directory (logs) also on success
}

func parse(args []string, now func() time.Time) (config, error) {
	fs := flag.NewFlagSet("paymentchaos", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c config
	fs.DurationVar(&c.duration, "duration", time.Minute, "how long load and faults run")
	fs.Int64Var(&c.seed, "seed", now().UnixNano()%1_000_000, "seed of the fault schedule and the load")
	fs.Float64Var(&c.rate, "rate", 5, "payment flows started per second")
	fs.IntVar(&c.concurrency, "c", 8, "concurrent payment flows at most")
	fs.IntVar(&c.maxPayments, "max-payments", 5000, "payments started at most")
	fs.IntVar(&c.maxFaults, "max-faults", 100, "faults injected at most")
	fs.DurationVar(&c.converge, "converge", 2*time.Minute, "how long to wait for convergence after the faults")
	fs.BoolVar(&c.keep, "keep", false, "keep the work directory with the processes' logs")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	var errs []error
	if c.duration <= 0 {
		errs = append(errs, errors.New("-duration must be positive"))
	}
	if c.rate <= 0 || c.concurrency < 1 || c.maxPayments < 1 || c.maxFaults < 0 || c.converge <= 0 {
		errs = append(errs, errors.New("-rate, -c, -max-payments and -converge must be positive, -max-faults not negative"))
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	return c, errors.Join(errs...)
}

// stack is everything a run started.
type stack struct {
	dir                     string
	cluster                 *pgtest.Cluster
	broker                  *brokertest.Broker
	paymentd, ledger        *proc
	wallet, sim             *proc
	apiURL, simURL          string
	merchantKey, operatorKy string
	secretKey               string
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) (err error) {
	cfg, err := parse(args, time.Now)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "paymentchaos: seed %d, duration %s, rate %.1f/s\n", cfg.seed, cfg.duration, cfg.rate)
	dir, err := os.MkdirTemp("", "paymentchaos-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil || cfg.keep {
			fmt.Fprintf(stdout, "logs kept in %s\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()
	st := &stack{dir: dir}
	defer st.stop(stdout)
	if err := st.start(ctx, getenv, stdout); err != nil {
		return err
	}
	rep, err := chaos(ctx, cfg, st)
	if err != nil {
		return err
	}
	rep.print(stdout)
	if n := rep.violations(); n > 0 {
		return errViolations{n: n, seed: cfg.seed}
	}
	return nil
}

func (st *stack) start(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	t0 := time.Now()
	bin := filepath.Join(st.dir, "bin")
	if err := build(ctx, bin); err != nil {
		return err
	}
	var err error
	if st.cluster, err = pgtest.Start(ctx, pgtest.Options{}); err != nil {
		return err
	}
	dbURL, err := st.cluster.NewDatabase(ctx)
	if err != nil {
		return err
	}
	if st.broker, err = brokertest.Start(ctx); err != nil {
		return err
	}
	brokers := strings.Join(st.broker.Brokers(), ",")
	apiAddr, err := freeAddr()
	if err != nil {
		return err
	}
	simAddr, err := freeAddr()
	if err != nil {
		return err
	}
	st.apiURL, st.simURL = "http://"+apiAddr, "http://"+simAddr
	merchant, operator := access.NewToken(), access.NewToken()
	st.merchantKey, st.operatorKy = merchant.Reveal(), operator.Reveal()
	st.secretKey = "test_sk_chaos"
	keys := fmt.Sprintf("chaos-merchant:merchant:%s,chaos-operator:operator:%s", access.HashOf(merchant), access.HashOf(operator))
	logs := func(name string) string { return filepath.Join(st.dir, name+".log") }
	st.sim = &proc{name: "tosssim", bin: filepath.Join(bin, "tosssim"), logPath: logs("tosssim"),
		env: []string{"TOSSSIM_ADDR=" + simAddr, "TOSSSIM_SECRET_KEYS=" + st.secretKey}}
	st.ledger = &proc{name: "ledger", bin: filepath.Join(bin, "ledger"), logPath: logs("ledger"),
		env: []string{"DATABASE_URL=" + dbURL, "KAFKA_BROKERS=" + brokers}}
	st.wallet = &proc{name: "wallet", bin: filepath.Join(bin, "wallet"), logPath: logs("wallet"),
		env: []string{"DATABASE_URL=" + dbURL, "KAFKA_BROKERS=" + brokers}}
	st.paymentd = &proc{name: "paymentd", bin: filepath.Join(bin, "paymentd"), logPath: logs("paymentd"),
		env: []string{"PAYSTREAM_ADDR=" + apiAddr, "PAYSTREAM_DATA_DIR=" + filepath.Join(st.dir, "data"),
			"DATABASE_URL=" + dbURL, "KAFKA_BROKERS=" + brokers,
			"TOSS_API_URL=" + st.simURL, "TOSS_SECRET_KEY=" + st.secretKey,
			"PAYSTREAM_API_KEYS=" + keys, "PAYSTREAM_ANCHOR_INTERVAL=off",
			"PAYSTREAM_CONFIRM_TIMEOUT=10s", "PAYSTREAM_SHUTDOWN_TIMEOUT=5s",
			// Recovery settles confirms and refunds left open by faults quickly, so that a
			// one-minute run converges; it never escalates to a person here.
			"PAYSTREAM_RECOVERY_INTERVAL=1s", "PAYSTREAM_RECOVERY_EXECUTING_TIMEOUT=5s",
			"PAYSTREAM_RECOVERY_BACKOFF=1s", "PAYSTREAM_RECOVERY_BACKOFF_MAX=5s",
			"PAYSTREAM_RECOVERY_THRESHOLD=1000"}}
	for _, p := range []*proc{st.sim, st.ledger, st.wallet} {
		if err := p.start(); err != nil {
			return err
		}
	}
	if err := waitHTTP(ctx, st.sim, st.simURL+"/sim/v1/stats", 30*time.Second); err != nil {
		return err
	}
	if err := st.startPaymentd(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "stack up in %s: %s, PostgreSQL, paymentd %s, simulator %s\n",
		time.Since(t0).Round(time.Millisecond), st.broker, st.apiURL, st.simURL)
	return nil
}

func (st *stack) startPaymentd(ctx context.Context) error {
	if err := st.paymentd.start(); err != nil {
		return err
	}
	return waitHTTP(ctx, st.paymentd, st.apiURL+"/healthz", 90*time.Second)
}

// stop stops everything start started, in reverse order; safe after a partial start.
func (st *stack) stop(stdout io.Writer) {
	var wg sync.WaitGroup
	for _, p := range []*proc{st.paymentd, st.ledger, st.wallet, st.sim} {
		if p != nil {
			wg.Add(1)
			go func() { defer wg.Done(); p.stop(10 * time.Second) }()
		}
	}
	wg.Wait()
	if st.broker != nil {
		if err := st.broker.Stop(); err != nil {
			fmt.Fprintln(stdout, "stopping the broker:", err)
		}
	}
	if st.cluster != nil {
		if err := st.cluster.Stop(context.Background()); err != nil {
			fmt.Fprintln(stdout, "stopping PostgreSQL:", err)
		}
	}
}

// fault is one injected fault: inject, hold, heal.
type fault struct {
	kind string
	do   func(ctx context.Context, r *rand.Rand) error
}

func (st *stack) faults() []fault {
	hold := func(ctx context.Context, r *rand.Rand, lo, hi time.Duration) {
		d := lo + time.Duration(r.Int64N(int64(hi-lo)))
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	return []fault{
		{"paymentd kill -9 + restart", func(ctx context.Context, r *rand.Rand) error {
			st.paymentd.kill()
			hold(ctx, r, 200*time.Millisecond, 2*time.Second)
			return st.startPaymentd(context.WithoutCancel(ctx))
		}},
		{"ledger SIGSTOP/SIGCONT", func(ctx context.Context, r *rand.Rand) error {
			if err := st.ledger.signal(syscall.SIGSTOP); err != nil {
				return err
			}
			hold(ctx, r, time.Second, 5*time.Second)
			return st.ledger.signal(syscall.SIGCONT)
		}},
		{"broker kill -9 + restart", func(ctx context.Context, r *rand.Rand) error {
			if err := st.broker.Kill(); err != nil {
				return err
			}
			hold(ctx, r, 200*time.Millisecond, 2*time.Second)
			return st.broker.Restart(context.WithoutCancel(ctx))
		}},
		{"simulator timeouts", st.simFault(`{"rateTimeout":0.3}`, hold)},
		{"simulator 5xx", st.simFault(`{"rate5xx":0.3}`, hold)},
		{"simulator approve-then-drop", st.simFault(`{"rateDropAfterApprove":0.3}`, hold)},
	}
}

func (st *stack) simFault(body string, hold func(context.Context, *rand.Rand, time.Duration, time.Duration)) func(context.Context, *rand.Rand) error {
	return func(ctx context.Context, r *rand.Rand) error {
		if err := st.putFaults(ctx, body); err != nil {
			return err
		}
		hold(ctx, r, 2*time.Second, 6*time.Second)
		return st.putFaults(context.WithoutCancel(ctx), `{}`)
	}
}

// chaos drives the load and the faults for cfg.duration, then waits for convergence and
// checks the invariants.
func chaos(ctx context.Context, cfg config, st *stack) (*report, error) {
	rep := &report{seed: cfg.seed, faults: map[string]int{}}
	runCtx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	load := newLoad(st, cfg, rand.New(rand.NewPCG(uint64(cfg.seed), 1)))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); load.run(runCtx) }()

	var faultErr error
	r := rand.New(rand.NewPCG(uint64(cfg.seed), 2))
	kinds := st.faults()
	for n := 0; n < cfg.maxFaults && runCtx.Err() == nil; n++ {
		select { // a quiet spell between faults: 1–4 s
		case <-runCtx.Done():
		case <-time.After(time.Second + time.Duration(r.Int64N(int64(3*time.Second)))):
		}
		if runCtx.Err() != nil {
			break
		}
		f := kinds[r.IntN(len(kinds))]
		rep.faults[f.kind]++
		if err := f.do(runCtx, r); err != nil {
			faultErr = fmt.Errorf("fault %q: %w", f.kind, err)
			break
		}
	}
	cancel()
	wg.Wait()
	if faultErr != nil {
		return nil, faultErr
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	rep.load = load.summary()
	t0 := time.Now()
	converged := st.converge(ctx, cfg.converge, load.orders())
	rep.converge = time.Since(t0)
	rep.converged = converged
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	rep.checks = st.check(ctx, load.orders())
	return rep, nil
}

// report is what a run prints.
type report struct {
	seed      int64
	load      loadSummary
	faults    map[string]int
	converge  time.Duration
	converged bool
	checks    []check
}

type check struct {
	name   string
	ok     bool
	detail string
}

func (r *report) violations() int {
	n := 0
	if !r.converged {
		n++
	}
	for _, c := range r.checks {
		if !c.ok {
			n++
		}
	}
	return n
}

func (r *report) print(w io.Writer) {
	fmt.Fprintf(w, "\npayments: %d started, %d checkouts, %d confirmed SUCCESS, %d confirm answers not SUCCESS or failed, %d refunds requested (%d errors)\n",
		r.load.started, r.load.checkouts, r.load.success, r.load.notSuccess, r.load.refunds, r.load.refundErrors)
	kinds := make([]string, 0, len(r.faults))
	total := 0
	for k, n := range r.faults {
		kinds = append(kinds, k)
		total += n
	}
	sort.Strings(kinds)
	fmt.Fprintf(w, "faults injected: %d\n", total)
	for _, k := range kinds {
		fmt.Fprintf(w, "  %-30s %d\n", k, r.faults[k])
	}
	state := "converged"
	if !r.converged {
		state = "NOT converged"
	}
	fmt.Fprintf(w, "time to converge: %s (%s)\n", r.converge.Round(time.Millisecond), state)
	fmt.Fprintln(w, "invariants:")
	for _, c := range r.checks {
		mark := "ok  "
		if !c.ok {
			mark = "FAIL"
		}
		fmt.Fprintf(w, "  %s %s: %s\n", mark, c.name, c.detail)
	}
	fmt.Fprintf(w, "violations: %d (seed %d)\n", r.violations(), r.seed)
}
