package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/go-json-experiment/json/v1"
)

var client = &http.Client{Timeout: 30 * time.Second}

// call sends body (nil: none) as JSON with the given Authorization and decodes a 2xx answer
// into out; it returns the status.
func call(ctx context.Context, method, url, auth string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("%s %s: HTTP %d: %s", method, url, resp.StatusCode, bytes.TrimSpace(raw))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w", method, url, err)
		}
	}
	return resp.StatusCode, nil
}

// callPaymentd is call to whichever paymentd instance answers first, each given a few
// seconds (one may be down or paused by a fault).
func (st *stack) callPaymentd(ctx context.Context, method, path, auth string, body, out any) (int, error) {
	var code int
	var err error
	for _, in := range st.paymentd {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		code, err = call(cctx, method, in.url+path, auth, body, out)
		cancel()
		if code != 0 { // it answered
			return code, err
		}
	}
	return code, err
}

func (st *stack) merchant() string { return "Bearer " + st.merchantKey }
func (st *stack) operator() string { return "Bearer " + st.operatorKy }
func (st *stack) tossAuth() string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(st.secretKey+":"))
}

func (st *stack) putFaults(ctx context.Context, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, st.simURL+"/sim/v1/faults", bytes.NewBufferString(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("PUT /sim/v1/faults: HTTP %d: %s", resp.StatusCode, raw)
	}
	return nil
}

// load runs payment flows: checkout, the buyer's authorisation at the simulator, confirm,
// and for about one in five confirmed payments a refund (half or all of it).
type load struct {
	st  *stack
	cfg config

	mu       sync.Mutex
	r        *rand.Rand // under mu
	ids      []string   // orders checked out
	sessions int        // buyers who authorised at the simulator
	acked    []ack      // writes paymentd acknowledged
	sum      loadSummary
	started  int
}

// ack is a write paymentd acknowledged: it must be in the order's stream from then on.
type ack struct {
	orderID   string
	eventType string // the event the acknowledgement promises
}

type loadSummary struct {
	started, checkouts, success, notSuccess, refunds, refundErrors, consoleCancels int
}

func newLoad(st *stack, cfg config, r *rand.Rand) *load { return &load{st: st, cfg: cfg, r: r} }

func (l *load) run(ctx context.Context) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / l.cfg.rate))
	defer tick.Stop()
	slots := make(chan struct{}, l.cfg.concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := 0; i < l.cfg.maxPayments; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		select {
		case <-ctx.Done():
			return
		case slots <- struct{}{}:
		}
		l.mu.Lock()
		l.sum.started++
		f := plan{i: i, qty: 1 + l.r.IntN(3), refund: l.r.IntN(5) == 0, full: l.r.IntN(2) == 0, atConsole: l.r.IntN(4) == 0}
		l.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			// Flows run to their end after the load stops: a confirm cut off by the
			// runner would be a fault the schedule did not choose.
			l.flow(context.WithoutCancel(ctx), f, l.st.paymentd[i%len(l.st.paymentd)].url)
		}()
	}
}

// plan is one payment's course: its items, and whether (and how) it is refunded — through
// paymentd's API, or by the merchant at the Toss console, which paymentd learns of by webhook.
type plan struct {
	i, qty                  int
	refund, full, atConsole bool
}

// flow runs the plan f against the paymentd at api and returns the order and whether its
// confirm answered SUCCESS.
func (l *load) flow(ctx context.Context, f plan, api string) (orderID string, approved bool) {
	products := []string{"book-kia", "mug-gopher", "sticker-pack"}
	var co struct {
		OrderID     string `json:"orderId"`
		TotalAmount string `json:"totalAmount"`
	}
	body := map[string]any{"buyerId": "chaos-buyer-" + strconv.Itoa(f.i%31),
		"items": []map[string]any{{"productId": products[f.i%len(products)], "quantity": f.qty}}}
	if _, err := call(ctx, http.MethodPost, api+"/v1/checkout", l.st.merchant(), body, &co); err != nil {
		return "", false
	}
	amount, err := strconv.ParseInt(co.TotalAmount, 10, 64)
	if err != nil {
		return "", false
	}
	l.mu.Lock()
	l.ids = append(l.ids, co.OrderID)
	l.sum.checkouts++
	l.mu.Unlock()
	var sess struct {
		PaymentKey string `json:"paymentKey"`
	}
	if _, err := call(ctx, http.MethodPost, l.st.simURL+"/sim/v1/sessions", "", map[string]any{"orderId": co.OrderID, "amount": amount}, &sess); err != nil {
		return co.OrderID, false
	}
	l.mu.Lock()
	l.sessions++
	l.mu.Unlock()
	var conf struct {
		Status string `json:"status"`
	}
	_, err = call(ctx, http.MethodPost, api+"/v1/payments/confirm", l.st.merchant(),
		map[string]any{"paymentKey": sess.PaymentKey, "orderId": co.OrderID, "amount": amount}, &conf)
	l.mu.Lock()
	ok := err == nil && conf.Status == "SUCCESS"
	if ok {
		l.sum.success++
		l.acked = append(l.acked, ack{co.OrderID, "payment.psp-approved.v1"})
	} else {
		l.sum.notSuccess++
	}
	l.mu.Unlock()
	if !ok || !f.refund {
		return co.OrderID, ok
	}
	cancel := map[string]any{"cancelReason": "chaos refund"}
	if !f.full && amount >= 2 {
		cancel["cancelAmount"] = amount / 2
	}
	if f.atConsole {
		_, err = call(ctx, http.MethodPost, l.st.simURL+"/sim/v1/payments/"+sess.PaymentKey+"/console-cancel", "", cancel, nil)
		l.mu.Lock()
		if err == nil {
			l.sum.consoleCancels++
		}
		l.mu.Unlock()
		return co.OrderID, ok
	}
	_, err = call(ctx, http.MethodPost, api+"/v1/payments/"+co.OrderID+"/cancel", l.st.merchant(), cancel, nil)
	l.mu.Lock()
	l.sum.refunds++
	if err != nil {
		l.sum.refundErrors++
	} else {
		l.acked = append(l.acked, ack{co.OrderID, "payment.refund-requested.v1"})
	}
	l.mu.Unlock()
	return co.OrderID, ok
}

func (l *load) orders() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ids...)
}

func (l *load) summary() loadSummary {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sum
}

// progress is what the monitor compares against: authorised sessions and acknowledged writes.
func (l *load) progress() (sessions int, acked []ack) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.sessions, append([]ack(nil), l.acked...)
}
