package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/paystream/paystream/access"
	"github.com/paystream/paystream/eventstore/esdbtest"
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
	instances   int           // paymentd instances: 1 with a data directory, 2 sharing the EventStoreDB emulator
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
	fs.IntVar(&c.instances, "instances", 1, "paymentd instances: 1 (data directory) or 2 (sharing one EventStoreDB emulator and one PostgreSQL)")
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
	if c.instances != 1 && c.instances != 2 {
		errs = append(errs, fmt.Errorf("-instances must be 1 or 2, not %d", c.instances))
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
	esdb                    *esdbtest.Server // the event store of two instances; nil for one
	paymentd                []*instance
	ledger, wallet, sim     *proc
	simURL                  string
	merchantKey, operatorKy string
	secretKey               string
}

// instance is one paymentd process and its API's base URL.
type instance struct {
	*proc
	url string
}

func run(ctx context.Context, args []string, stdout io.Writer) (err error) {
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
	if err := st.start(ctx, cfg.instances, stdout); err != nil {
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

func (st *stack) start(ctx context.Context, instances int, stdout io.Writer) error {
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
	// One instance keeps its events in a data directory; two share the EventStoreDB
	// emulator, served from this process (it stands in for a cluster and is never killed).
	store := []string{"PAYSTREAM_DATA_DIR=" + filepath.Join(st.dir, "data")}
	if instances > 1 {
		if st.esdb, err = esdbtest.Start(esdbtest.Options{}); err != nil {
			return fmt.Errorf("EventStoreDB emulator: %w", err)
		}
		store = []string{"EVENTSTORE_URL=" + st.esdb.URL()}
	}
	simAddr, err := freeAddr()
	if err != nil {
		return err
	}
	st.simURL = "http://" + simAddr
	merchant, operator := access.NewToken(), access.NewToken()
	st.merchantKey, st.operatorKy = merchant.Reveal(), operator.Reveal()
	st.secretKey = "test_sk_chaos"
	keys := fmt.Sprintf("chaos-merchant:merchant:%s,chaos-operator:operator:%s", access.HashOf(merchant), access.HashOf(operator))
	logs := func(name string) string { return filepath.Join(st.dir, name+".log") }
	for i := range instances {
		apiAddr, err := freeAddr()
		if err != nil {
			return err
		}
		name := "paymentd"
		if instances > 1 {
			name = fmt.Sprintf("paymentd-%d", i+1)
		}
		st.paymentd = append(st.paymentd, &instance{url: "http://" + apiAddr, proc: &proc{name: name,
			bin: filepath.Join(bin, "paymentd"), logPath: logs(name),
			env: append([]string{"PAYSTREAM_ADDR=" + apiAddr,
				"DATABASE_URL=" + dbURL, "KAFKA_BROKERS=" + brokers,
				"TOSS_API_URL=" + st.simURL, "TOSS_SECRET_KEY=" + st.secretKey,
				"PAYSTREAM_API_KEYS=" + keys, "PAYSTREAM_ANCHOR_INTERVAL=off",
				"PAYSTREAM_CONFIRM_TIMEOUT=10s", "PAYSTREAM_SHUTDOWN_TIMEOUT=5s",
				// Recovery settles confirms and refunds left open by faults quickly, so that a
				// one-minute run converges; it never escalates to a person here.
				"PAYSTREAM_RECOVERY_INTERVAL=1s", "PAYSTREAM_RECOVERY_EXECUTING_TIMEOUT=5s",
				"PAYSTREAM_RECOVERY_BACKOFF=1s", "PAYSTREAM_RECOVERY_BACKOFF_MAX=5s",
				"PAYSTREAM_RECOVERY_THRESHOLD=1000"}, store...)}})
	}
	st.sim = &proc{name: "tosssim", bin: filepath.Join(bin, "tosssim"), logPath: logs("tosssim"),
		env: []string{"TOSSSIM_ADDR=" + simAddr, "TOSSSIM_SECRET_KEYS=" + st.secretKey,
			// Every approval and cancel is also a webhook to (the first) paymentd, retried on
			// Toss's schedule compressed 60× so that an outage is caught up within the run.
			"TOSSSIM_WEBHOOK_URL=" + st.paymentd[0].url + "/v1/webhooks/toss", "TOSSSIM_WEBHOOK_RETRY_SCALE=60"}}
	st.ledger = &proc{name: "ledger", bin: filepath.Join(bin, "ledger"), logPath: logs("ledger"),
		env: []string{"DATABASE_URL=" + dbURL, "KAFKA_BROKERS=" + brokers}}
	st.wallet = &proc{name: "wallet", bin: filepath.Join(bin, "wallet"), logPath: logs("wallet"),
		env: []string{"DATABASE_URL=" + dbURL, "KAFKA_BROKERS=" + brokers}}
	for _, p := range []*proc{st.sim, st.ledger, st.wallet} {
		if err := p.start(); err != nil {
			return err
		}
	}
	if err := waitHTTP(ctx, st.sim, st.simURL+"/sim/v1/stats", 30*time.Second); err != nil {
		return err
	}
	var urls []string
	for _, in := range st.paymentd {
		if err := in.start(ctx); err != nil {
			return err
		}
		urls = append(urls, in.url)
	}
	fmt.Fprintf(stdout, "stack up in %s: %s, PostgreSQL, paymentd %s, simulator %s\n",
		time.Since(t0).Round(time.Millisecond), st.broker, strings.Join(urls, " "), st.simURL)
	return nil
}

// start starts the instance and waits until it answers.
func (in *instance) start(ctx context.Context) error {
	if err := in.proc.start(); err != nil {
		return err
	}
	return waitHTTP(ctx, in.proc, in.url+"/healthz", 90*time.Second)
}

// stop stops everything start started, in reverse order; safe after a partial start.
func (st *stack) stop(stdout io.Writer) {
	var wg sync.WaitGroup
	procs := []*proc{st.ledger, st.wallet, st.sim}
	for _, in := range st.paymentd {
		procs = append(procs, in.proc)
	}
	for _, p := range procs {
		if p != nil {
			wg.Add(1)
			go func() { defer wg.Done(); p.stop(10 * time.Second) }()
		}
	}
	wg.Wait()
	if st.esdb != nil {
		st.esdb.Stop()
	}
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

// faults are the kinds of fault the schedule draws from; l and rep are for the take-over
// probes of two instances.
func (st *stack) faults(l *load, rep *report) []fault {
	hold := func(ctx context.Context, r *rand.Rand, lo, hi time.Duration) {
		d := lo + time.Duration(r.Int64N(int64(hi-lo)))
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
	}
	pause := func(pick func(r *rand.Rand) *proc) func(ctx context.Context, r *rand.Rand) error {
		return func(ctx context.Context, r *rand.Rand) error {
			p := pick(r)
			if err := p.signal(syscall.SIGSTOP); err != nil {
				return err
			}
			hold(ctx, r, time.Second, 5*time.Second)
			return p.signal(syscall.SIGCONT)
		}
	}
	the := func(p *proc) func(*rand.Rand) *proc { return func(*rand.Rand) *proc { return p } }
	restart := func(p *proc) func(ctx context.Context, r *rand.Rand) error {
		return func(ctx context.Context, r *rand.Rand) error {
			p.kill()
			hold(ctx, r, 200*time.Millisecond, 2*time.Second)
			return p.start()
		}
	}
	anyPaymentd := func(r *rand.Rand) *instance { return st.paymentd[r.IntN(len(st.paymentd))] }
	// The simulator stands in for Toss, which does not lose its payments: it is paused,
	// never killed (its state lives in its memory).
	return []fault{
		{"paymentd kill -9 + restart", func(ctx context.Context, r *rand.Rand) error {
			in := anyPaymentd(r)
			in.kill()
			if len(st.paymentd) > 1 {
				st.takeover(ctx, in, l, rep)
			} else {
				hold(ctx, r, 200*time.Millisecond, 2*time.Second)
			}
			return in.start(context.WithoutCancel(ctx))
		}},
		{"paymentd SIGSTOP/SIGCONT", pause(func(r *rand.Rand) *proc { return anyPaymentd(r).proc })},
		{"ledger kill -9 + restart", restart(st.ledger)},
		{"ledger SIGSTOP/SIGCONT", pause(the(st.ledger))},
		{"wallet kill -9 + restart", restart(st.wallet)},
		{"wallet SIGSTOP/SIGCONT", pause(the(st.wallet))},
		{"simulator SIGSTOP/SIGCONT", pause(the(st.sim))},
		{"broker kill -9 + restart", func(ctx context.Context, r *rand.Rand) error {
			if err := st.broker.Kill(); err != nil {
				return err
			}
			hold(ctx, r, 200*time.Millisecond, 2*time.Second)
			return st.broker.Restart(context.WithoutCancel(ctx))
		}},
		{"broker SIGSTOP/SIGCONT", func(ctx context.Context, r *rand.Rand) error {
			if err := st.broker.Pause(); err != nil {
				return err
			}
			hold(ctx, r, time.Second, 5*time.Second)
			return st.broker.Resume()
		}},
		{"PostgreSQL stop -m immediate + restart", func(ctx context.Context, r *rand.Rand) error {
			if err := st.cluster.StopImmediate(context.WithoutCancel(ctx)); err != nil {
				return err
			}
			hold(ctx, r, 500*time.Millisecond, 3*time.Second)
			return st.cluster.Restart(context.WithoutCancel(ctx))
		}},
		{"simulator timeouts", st.simFault(`{"rateTimeout":0.3}`, hold)},
		{"simulator 5xx", st.simFault(`{"rate5xx":0.3}`, hold)},
		{"simulator approve-then-drop", st.simFault(`{"rateDropAfterApprove":0.3}`, hold)},
		{"simulator webhooks duplicated and reordered", st.simFault(`{"webhookRateDuplicate":0.5,"webhookRateReorder":0.3}`, hold)},
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
	started := time.Now()
	runCtx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	load := newLoad(st, cfg, rand.New(rand.NewPCG(uint64(cfg.seed), 1)))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); load.run(runCtx) }()
	mon := newMonitor(st, load, cfg.seed)
	monCtx, stopMonitor := context.WithCancel(ctx)
	defer stopMonitor()
	var monDone sync.WaitGroup
	monDone.Add(1)
	go func() { defer monDone.Done(); mon.run(monCtx, 2*time.Second) }()

	var faultErr error
	r := rand.New(rand.NewPCG(uint64(cfg.seed), 2))
	kinds := st.faults(load, rep)
	// Rounds of every kind once, in a seeded order: a short run still meets many kinds.
	var order []int
	for n := 0; n < cfg.maxFaults && runCtx.Err() == nil; n++ {
		if len(order) == 0 {
			order = r.Perm(len(kinds))
		}
		select { // a quiet spell between faults: 1–4 s
		case <-runCtx.Done():
		case <-time.After(time.Second + time.Duration(r.Int64N(int64(3*time.Second)))):
		}
		if runCtx.Err() != nil {
			break
		}
		f := kinds[order[0]]
		order = order[1:]
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
	// Converged means: nothing open, every approval done downstream, the books tied out,
	// then — after a reconciliation with Toss has found what lost webhooks did not tell —
	// every refund and console cancel as Toss has it.
	t0 := time.Now()
	rep.waitingOn = st.converge(ctx, cfg.converge, load.orders(), false)
	if rep.waitingOn == "" {
		var err error
		if rep.reconciliation, err = st.reconcile(ctx, started, time.Now()); err != nil {
			rep.reconciliation, rep.reconcileFailed = err.Error(), true
		}
		rep.waitingOn = st.converge(ctx, cfg.converge, load.orders(), true)
	}
	rep.converge = time.Since(t0)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if _, err := call(ctx, http.MethodGet, st.simURL+"/sim/v1/stats", "", nil, &rep.sim); err != nil {
		return nil, fmt.Errorf("simulator stats: %w", err)
	}
	stopMonitor()
	monDone.Wait()
	rep.checks = st.check(ctx, load.orders())
	mon.round(ctx, math.MaxInt)
	_, acked := load.progress()
	rep.checks = append(rep.checks, mon.check(len(acked)))
	return rep, nil
}

// report is what a run prints.
type report struct {
	seed      int64
	takeovers []time.Duration // two instances: from a kill to the survivor's next payment done downstream
	load      loadSummary
	faults    map[string]int
	converge  time.Duration
	waitingOn string // what the wait for convergence ended on ("" when converged)
	// reconciliation is what the run's reconciliation with Toss found and fixed, or why it
	// failed.
	reconciliation  string
	reconcileFailed bool
	sim             struct {
		Webhooks struct {
			Events, Delivered, Retries, Abandoned, Overflowed, Duplicated, Reordered int64
		} `json:"webhooks"`
	}
	checks []check
}

type check struct {
	name   string
	ok     bool
	detail string
}

func (r *report) violations() int {
	n := 0
	if r.waitingOn != "" || r.reconcileFailed {
		n++
	}
	if slices.Contains(r.takeovers, 0) {
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
	fmt.Fprintf(w, "\npayments: %d started, %d checkouts, %d confirmed SUCCESS, %d confirm answers not SUCCESS or failed, %d refunds requested (%d errors), %d cancelled at the Toss console\n",
		r.load.started, r.load.checkouts, r.load.success, r.load.notSuccess, r.load.refunds, r.load.refundErrors, r.load.consoleCancels)
	kinds := make([]string, 0, len(r.faults))
	total := 0
	for k, n := range r.faults {
		kinds = append(kinds, k)
		total += n
	}
	sort.Strings(kinds)
	fmt.Fprintf(w, "faults injected: %d\n", total)
	for _, k := range kinds {
		fmt.Fprintf(w, "  %-44s %d\n", k, r.faults[k])
	}
	if len(r.takeovers) > 0 {
		ts := slices.Clone(r.takeovers)
		slices.Sort(ts)
		failed := 0
		for len(ts) > 0 && ts[0] == 0 {
			ts, failed = ts[1:], failed+1
		}
		fmt.Fprintf(w, "take-overs (a paymentd killed → the survivor's next payment done downstream): %d", len(r.takeovers))
		if len(ts) > 0 {
			fmt.Fprintf(w, ", median %s, max %s", ts[len(ts)/2].Round(time.Millisecond), ts[len(ts)-1].Round(time.Millisecond))
		}
		if failed > 0 {
			fmt.Fprintf(w, ", FAILED %d (none within a minute)", failed)
		}
		fmt.Fprintln(w)
	}
	h := r.sim.Webhooks
	fmt.Fprintf(w, "webhooks from the simulator: %d events, %d delivered, %d retries, %d duplicated, %d reordered, %d abandoned after 7 retries, %d dropped (queue full)\n",
		h.Events, h.Delivered, h.Retries, h.Duplicated, h.Reordered, h.Abandoned, h.Overflowed)
	if r.reconciliation != "" {
		mark := ""
		if r.reconcileFailed {
			mark = "FAILED: "
		}
		fmt.Fprintf(w, "reconciliation with Toss after the faults: %s%s\n", mark, r.reconciliation)
	}
	state := "converged"
	if r.waitingOn != "" {
		state = "NOT converged, waiting on " + r.waitingOn
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

// takeover measures, after killed was killed, how long the survivor takes to carry a new
// payment through to done downstream: its projector, forwarder and completion must have
// taken over whatever the killed instance held. A survivor that does not within a minute
// is a violation (a zero duration in the report).
func (st *stack) takeover(ctx context.Context, killed *instance, l *load, rep *report) {
	var survivor *instance
	for _, in := range st.paymentd {
		if in != killed {
			survivor = in
		}
	}
	// Measured to its end even when the run's time is up meanwhile.
	ctx = context.WithoutCancel(ctx)
	t0 := time.Now()
	deadline := t0.Add(time.Minute)
	for time.Now().Before(deadline) {
		id, ok := l.flow(ctx, plan{qty: 1}, survivor.url)
		for ok && time.Now().Before(deadline) {
			var p payment
			if _, err := call(ctx, http.MethodGet, survivor.url+"/v1/payments/"+id, st.merchant(), nil, &p); err == nil && p.IsPaymentDone {
				rep.takeovers = append(rep.takeovers, time.Since(t0))
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
	}
	rep.takeovers = append(rep.takeovers, 0)
}
