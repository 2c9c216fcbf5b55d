// Command paymentload drives N checkout → buyer authorisation → confirm flows at
// concurrency C against a running paymentd and its Toss simulator, and prints throughput
// and latency percentiles.
//
//	go run ./cmd/paymentd &               # embedded default, simulator on :8090
//	go run ./cmd/paymentload -n 20000 -c 64
//
// Each flow is three HTTP exchanges: POST /v1/checkout, POST {sim}/sim/v1/sessions (the
// buyer authorising in the widget), POST /v1/payments/confirm. A flow counts as confirmed
// when the confirm answers 200 with status SUCCESS.
//
// -rate caps the flows started per second (0: as fast as the concurrency allows): flow i
// starts i/rate after the first, or at once when the run is behind, so it keeps the rate. With
// -downstream, it then reads each confirmed payment's events and reports the time from
// PspApproved to PaymentCompleted (the Kafka → ledger/wallet → completion loop), by the
// event store's own timestamps. -ids FILE writes the confirmed payments' orderIds, and a
// later `paymentload -check-done FILE` reports the same for them: scripts/perf.sh reads
// paymentd's CPU time in between, so those reads are not counted.
//
// -serve-bare ADDR is the yardstick: a bare Go JSON handler that decodes each request's body
// and answers a JSON object with what a flow reads, at every path. The same flows pointed at
// it (-url and -sim both its address) measure what the machine and this client manage with
// no payment logic at all.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json/v1"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

type config struct {
	url, simURL string
	key         string // merchant API key (PAYSTREAM_MERCHANT_KEY)
	n, c        int
	rate        float64
	downstream  bool
	doneWithin  time.Duration // how long -downstream and -check-done wait for the last payment
	idsFile     string        // -ids: write the confirmed payments' orderIds there
	checkDone   string        // -check-done: only check the payments listed there
	bareAddr    string        // -serve-bare: serve the bare JSON handler instead
	products    []string
}

func parse(args []string, getenv func(string) string) (config, error) {
	def := func(name, v string) string {
		if e := getenv(name); e != "" {
			return e
		}
		return v
	}
	fs := flag.NewFlagSet("paymentload", flag.ContinueOnError)
	url := fs.String("url", def("PAYMENTLOAD_URL", "http://127.0.0.1:8080"), "paymentd base URL (PAYMENTLOAD_URL)")
	sim := fs.String("sim", def("PAYMENTLOAD_SIM_URL", "http://127.0.0.1:8090"), "Toss simulator base URL (PAYMENTLOAD_SIM_URL)")
	key := fs.String("key", getenv("PAYSTREAM_MERCHANT_KEY"), "a merchant API key; the embedded default prints one (PAYSTREAM_MERCHANT_KEY)")
	n := fs.Int("n", 10000, "number of payments")
	c := fs.Int("c", 64, "concurrent flows")
	rate := fs.Float64("rate", 0, "flows started per second at most (0: unlimited)")
	downstream := fs.Bool("downstream", false, "afterwards, report PspApproved → PaymentCompleted latency")
	doneWithin := fs.Duration("done-within", 30*time.Second, "how long -downstream and -check-done wait for every payment to complete")
	ids := fs.String("ids", "", "write the confirmed payments' orderIds to this file, one a line")
	checkDone := fs.String("check-done", "", "run no flows: report PspApproved → PaymentCompleted latency of the payments listed in this file (-ids)")
	bare := fs.String("serve-bare", "", "run no flows: serve the bare JSON handler on this host:port until interrupted")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if *n < 1 {
		return config{}, errors.New("paymentload: -n must be at least 1")
	}
	if *c < 1 {
		return config{}, errors.New("paymentload: -c must be at least 1")
	}
	if *doneWithin <= 0 {
		return config{}, errors.New("paymentload: -done-within must be positive")
	}
	if *rate < 0 {
		return config{}, errors.New("paymentload: -rate must not be negative")
	}
	return config{url: *url, simURL: *sim, key: *key, n: *n, c: *c, rate: *rate, downstream: *downstream,
		doneWithin: *doneWithin, idsFile: *ids, checkDone: *checkDone, bareAddr: *bare,
		products: []string{"book-kia", "mug-gopher", "sticker-pack"}}, nil
}

// result of one flow.
type result struct {
	orderID                           string
	total, checkout, session, confirm time.Duration
	status                            string // confirm's payment status, or "error"
	err                               error
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cfg, err := parse(args, getenv)
	if err != nil {
		return err
	}
	if cfg.bareAddr != "" {
		return serveBare(ctx, cfg.bareAddr, stdout)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: cfg.c * 4, MaxIdleConnsPerHost: cfg.c * 2, IdleConnTimeout: time.Minute}}
	l := &loader{cfg: cfg, client: client}
	if cfg.checkDone != "" {
		data, err := os.ReadFile(cfg.checkDone)
		if err != nil {
			return err
		}
		l.reportDownstream(ctx, stdout, strings.Fields(string(data)))
		return nil
	}

	results := make([]result, cfg.n)
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	due := schedule(start, cfg.rate)
	for range cfg.c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= cfg.n || ctx.Err() != nil {
					return
				}
				if wait := time.Until(due(i)); wait > 0 {
					select {
					case <-time.After(wait):
					case <-ctx.Done():
						return
					}
				}
				results[i] = l.flow(ctx, i)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	report(stdout, cfg, results, elapsed)
	var confirmed []string
	for _, r := range results {
		if r.status == "SUCCESS" {
			confirmed = append(confirmed, r.orderID)
		}
	}
	if cfg.idsFile != "" {
		if err := os.WriteFile(cfg.idsFile, []byte(strings.Join(confirmed, "\n")+"\n"), 0o644); err != nil {
			return err
		}
	}
	if cfg.downstream {
		l.reportDownstream(ctx, stdout, confirmed)
	}
	return nil
}

// schedule gives the time flow i may start at, for a run started at start and capped at
// rate flows per second (0: no cap, always start). Each flow has its own time, i/rate after
// the start, and a worker that is late starts at once: so the run keeps the rate asked for
// on average (a ticker drops the ticks its receivers are late for: asked for 950 flows/s on
// a busy machine, one gave about 800).
func schedule(start time.Time, rate float64) func(i int) time.Time {
	if rate <= 0 {
		return func(int) time.Time { return start }
	}
	return func(i int) time.Time { return start.Add(time.Duration(float64(i) / rate * float64(time.Second))) }
}

type loader struct {
	cfg    config
	client *http.Client
}

func (l *loader) flow(ctx context.Context, i int) (r result) {
	t0 := time.Now()
	defer func() {
		r.total = time.Since(t0)
		if r.err != nil {
			r.status = "error"
		}
	}()
	items := []map[string]any{{"productId": l.cfg.products[i%len(l.cfg.products)], "quantity": 1 + i%3}}
	if i%2 == 0 {
		items = append(items, map[string]any{"productId": l.cfg.products[(i+1)%len(l.cfg.products)], "quantity": 1})
	}
	var co struct {
		OrderID     string `json:"orderId"`
		TotalAmount string `json:"totalAmount"`
	}
	if r.err = l.post(ctx, l.cfg.url+"/v1/checkout", map[string]any{"buyerId": "load-buyer-" + strconv.Itoa(i%97), "items": items}, http.StatusCreated, &co); r.err != nil {
		return r
	}
	r.orderID = co.OrderID
	r.checkout = time.Since(t0)
	t1 := time.Now()
	amount, err := strconv.ParseInt(co.TotalAmount, 10, 64)
	if err != nil {
		r.err = fmt.Errorf("checkout totalAmount %q: %w", co.TotalAmount, err)
		return r
	}
	var sess struct {
		PaymentKey string `json:"paymentKey"`
	}
	if r.err = l.post(ctx, l.cfg.simURL+"/sim/v1/sessions", map[string]any{"orderId": co.OrderID, "amount": amount}, http.StatusCreated, &sess); r.err != nil {
		return r
	}
	r.session = time.Since(t1)
	t2 := time.Now()
	var conf struct {
		Status string `json:"status"`
	}
	if r.err = l.post(ctx, l.cfg.url+"/v1/payments/confirm", map[string]any{"paymentKey": sess.PaymentKey, "orderId": co.OrderID, "amount": amount}, 0, &conf); r.err != nil {
		return r
	}
	r.confirm = time.Since(t2)
	r.status = conf.Status
	return r
}

// post sends body as JSON and decodes the answer into out; want 0 accepts any 2xx.
func (l *loader) post(ctx context.Context, url string, body any, want int, out any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if strings.HasPrefix(url, l.cfg.url) {
		req.Header.Set("Authorization", "Bearer "+l.cfg.key)
	}
	resp, err := l.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if (want != 0 && resp.StatusCode != want) || resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: HTTP %d: %s", url, resp.StatusCode, bytes.TrimSpace(raw))
	}
	return json.Unmarshal(raw, out)
}

func report(w io.Writer, cfg config, results []result, elapsed time.Duration) {
	byStatus := map[string]int{}
	var totals, checkouts, sessions, confirms []time.Duration
	var firstErr error
	for _, r := range results {
		if r.status == "" {
			continue // interrupted before it ran
		}
		byStatus[r.status]++
		if r.err != nil {
			if firstErr == nil {
				firstErr = r.err
			}
			continue
		}
		totals = append(totals, r.total)
		checkouts = append(checkouts, r.checkout)
		sessions = append(sessions, r.session)
		confirms = append(confirms, r.confirm)
	}
	confirmed := byStatus["SUCCESS"]
	fmt.Fprintf(w, "payments: %d  concurrency: %d  elapsed: %s\n", len(totals)+byStatus["error"], cfg.c, elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "confirmed: %d  (%.0f confirmed payments/s)\n", confirmed, float64(confirmed)/elapsed.Seconds())
	fmt.Fprintf(w, "requests: %.0f/s  (three per flow, as the client counts them)\n", float64(3*len(totals))/elapsed.Seconds())
	fmt.Fprintf(w, "outcomes: %v\n", byStatus)
	for _, s := range []struct {
		name string
		d    []time.Duration
	}{{"flow", totals}, {"checkout", checkouts}, {"authorise (sim)", sessions}, {"confirm", confirms}} {
		fmt.Fprintf(w, "%-16s p50 %-10s p99 %-10s max %s\n", s.name, pct(s.d, 50), pct(s.d, 99), pct(s.d, 100))
	}
	if firstErr != nil {
		fmt.Fprintf(w, "first error: %v\n", firstErr)
	}
}

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := (len(d)*p + 99) / 100
	if i > 0 {
		i--
	}
	return d[i].Round(10 * time.Microsecond)
}

// reportDownstream waits (up to -done-within) for every payment of ids to complete and
// prints the PspApproved → PaymentCompleted latency percentiles.
func (l *loader) reportDownstream(ctx context.Context, w io.Writer, ids []string) {
	lat := make([]time.Duration, len(ids))
	missing := make([]bool, len(ids))
	var next atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(l.cfg.doneWithin)
	for range l.cfg.c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(ids) {
					return
				}
				for {
					d, done, err := l.completion(ctx, ids[i])
					if err == nil && done {
						lat[i] = d
						break
					}
					if time.Now().After(deadline) || ctx.Err() != nil {
						missing[i] = true
						break
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	var got []time.Duration
	notDone := 0
	for i, d := range lat {
		if missing[i] {
			notDone++
			continue
		}
		got = append(got, d)
	}
	fmt.Fprintf(w, "%-16s p50 %-10s p99 %-10s max %s  (%d completed, %d not within %s)\n", "approved→done",
		pct(got, 50), pct(got, 99), pct(got, 100), len(got), notDone, l.cfg.doneWithin)
}

// completion reads a payment's events and returns PaymentCompleted's time minus PspApproved's.
func (l *loader) completion(ctx context.Context, orderID string) (time.Duration, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.cfg.url+"/v1/payments/"+orderID+"/events", nil)
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Authorization", "Bearer "+l.cfg.key)
	resp, err := l.client.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	var body struct {
		Events []struct {
			Type       string    `json:"type"`
			RecordedAt time.Time `json:"recordedAt"`
		} `json:"events"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, false, err
	}
	var approved, completed time.Time
	for _, e := range body.Events {
		switch e.Type {
		case "payment.psp-approved.v1":
			approved = e.RecordedAt
		case "payment.completed.v1":
			completed = e.RecordedAt
		}
	}
	if approved.IsZero() || completed.IsZero() {
		return 0, false, nil
	}
	return completed.Sub(approved), true, nil
}

// serveBare serves the yardstick on addr until ctx ends: every request's JSON body is
// decoded and answered 201 with a JSON object carrying what a flow reads from paymentd and
// the simulator.
func serveBare(ctx context.Context, addr string, stdout io.Writer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	var checkouts atomic.Uint64
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		orderID, _ := body["orderId"].(string)
		if orderID == "" { // a checkout
			orderID = "bare-" + strconv.FormatUint(checkouts.Add(1), 10)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]string{"orderId": orderID, "totalAmount": "15000", "paymentKey": "bare-" + orderID, "status": "SUCCESS"})
	})}
	fmt.Fprintf(stdout, "bare handler listening on http://%s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
