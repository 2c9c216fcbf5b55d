package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
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

	mu      sync.Mutex
	r       *rand.Rand // under mu
	ids     []string   // orders checked out
	sum     loadSummary
	started int
}

type loadSummary struct {
	started, checkouts, success, notSuccess, refunds, refundErrors int
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
		qty, refund, full := 1+l.r.IntN(3), l.r.IntN(5) == 0, l.r.IntN(2) == 0
		l.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			// Flows run to their end after the load stops: a confirm cut off by the
			// runner would be a fault the schedule did not choose.
			l.flow(context.WithoutCancel(ctx), i, qty, refund, full)
		}()
	}
}

func (l *load) flow(ctx context.Context, i, qty int, refund, full bool) {
	products := []string{"book-kia", "mug-gopher", "sticker-pack"}
	var co struct {
		OrderID     string `json:"orderId"`
		TotalAmount string `json:"totalAmount"`
	}
	body := map[string]any{"buyerId": "chaos-buyer-" + strconv.Itoa(i%31),
		"items": []map[string]any{{"productId": products[i%len(products)], "quantity": qty}}}
	if _, err := call(ctx, http.MethodPost, l.st.apiURL+"/v1/checkout", l.st.merchant(), body, &co); err != nil {
		return
	}
	amount, err := strconv.ParseInt(co.TotalAmount, 10, 64)
	if err != nil {
		return
	}
	l.mu.Lock()
	l.ids = append(l.ids, co.OrderID)
	l.sum.checkouts++
	l.mu.Unlock()
	var sess struct {
		PaymentKey string `json:"paymentKey"`
	}
	if _, err := call(ctx, http.MethodPost, l.st.simURL+"/sim/v1/sessions", "", map[string]any{"orderId": co.OrderID, "amount": amount}, &sess); err != nil {
		return
	}
	var conf struct {
		Status string `json:"status"`
	}
	_, err = call(ctx, http.MethodPost, l.st.apiURL+"/v1/payments/confirm", l.st.merchant(),
		map[string]any{"paymentKey": sess.PaymentKey, "orderId": co.OrderID, "amount": amount}, &conf)
	l.mu.Lock()
	ok := err == nil && conf.Status == "SUCCESS"
	if ok {
		l.sum.success++
	} else {
		l.sum.notSuccess++
	}
	l.mu.Unlock()
	if !ok || !refund {
		return
	}
	cancel := map[string]any{"cancelReason": "chaos refund"}
	if !full && amount >= 2 {
		cancel["cancelAmount"] = amount / 2
	}
	_, err = call(ctx, http.MethodPost, l.st.apiURL+"/v1/payments/"+co.OrderID+"/cancel", l.st.merchant(), cancel, nil)
	l.mu.Lock()
	l.sum.refunds++
	if err != nil {
		l.sum.refundErrors++
	}
	l.mu.Unlock()
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
