package tosssim

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/paystream/paystream/toss"
)

// WebhookOptions configure how the simulator delivers Toss's webhooks to the merchant. The
// zero value sends nothing.
type WebhookOptions struct {
	// URL receives every webhook by POST. Empty: none are sent (see SetWebhookURL).
	URL string
	// RetryScale compresses Toss's retry schedule for tests. Toss retries an attempt not
	// answered 200 seven times, 1, 4, 16, 64, 256, 1024 and 4096 minutes after the
	// previous one; each delay is divided by RetryScale (60: minutes become seconds,
	// 60000: milliseconds). Default 1, Toss's own schedule.
	RetryScale float64
	// QueueSize bounds the events held for delivery, those waiting for a retry included; an
	// event beyond it is not sent, and counted in Stats.Webhooks.Overflowed. Default 1024.
	QueueSize int
	// Workers is how many attempts may be in flight at once. Default 2. With more than one,
	// a slow answer can let a later event overtake an earlier one, as at Toss, whose
	// createdAt tells their order.
	Workers int
	// Timeout bounds one attempt; no answer in time counts as a failed attempt. Default 10 s.
	Timeout time.Duration
	// Client sends the webhooks. Default: a client of the simulator's own.
	Client *http.Client
}

// RetrySchedule is Toss's: how long after a failed attempt the next one is made, for the
// first to the seventh retry, before WebhookOptions.RetryScale applies.
var RetrySchedule = []time.Duration{time.Minute, 4 * time.Minute, 16 * time.Minute, 64 * time.Minute,
	256 * time.Minute, 1024 * time.Minute, 4096 * time.Minute}

// Webhook event types the simulator sends.
const (
	EventPaymentStatusChanged = "PAYMENT_STATUS_CHANGED"
	EventDepositCallback      = "DEPOSIT_CALLBACK"
	EventCancelStatusChanged  = "CANCEL_STATUS_CHANGED"
)

// Toss's webhook headers.
const (
	HeaderTransmissionID      = "tosspayments-webhook-transmission-id"
	HeaderTransmissionTime    = "tosspayments-webhook-transmission-time"
	HeaderTransmissionRetried = "tosspayments-webhook-transmission-retried-count"
)

// WebhookStats are the running totals of webhook delivery.
type WebhookStats struct {
	Events     int64 `json:"events"`     // webhook events made while a URL was set
	Attempts   int64 `json:"attempts"`   // POSTs made, retries and duplicates included
	Delivered  int64 `json:"delivered"`  // attempts answered 200
	Retries    int64 `json:"retries"`    // attempts that were retries
	Abandoned  int64 `json:"abandoned"`  // events given up after the seventh retry
	Overflowed int64 `json:"overflowed"` // events not sent because the queue was full
	Dropped    int64 `json:"dropped"`    // faults: events never sent
	Duplicated int64 `json:"duplicated"` // faults: events sent twice
	Reordered  int64 `json:"reordered"`  // faults: events held back behind the next one
	Delayed    int64 `json:"delayed"`    // faults: events sent late
}

// Toss writes a webhook's createdAt in KST with microseconds and no offset.
const webhookTimeLayout = "2006-01-02T15:04:05.000000"

// notify sends the webhooks Toss sends when o changed at now; c is the cancel that changed
// it, if one did. PAYMENT_STATUS_CHANGED goes for every change (Toss sends it for virtual
// accounts too when both are registered); DEPOSIT_CALLBACK for every change of a virtual
// account: issued, deposited, deposit failed, canceled; CANCEL_STATUS_CHANGED for the
// cancels of overseas easy-pay payments. Call with o.mu held.
func (s *Simulator) notify(o *order, now time.Time, c *cancelRecord) {
	s.journalChange(o, now, c) // every change notified is every change that moves money
	if !s.hooks.enabled() {
		return
	}
	created := now.In(kst).Format(webhookTimeLayout)
	s.hooks.emit(mustJSON(struct {
		EventType string          `json:"eventType"`
		CreatedAt string          `json:"createdAt"`
		Data      json.RawMessage `json:"data"`
	}{EventPaymentStatusChanged, created, o.render(false)}))
	if o.method == toss.MethodVirtualAccount && o.va != nil {
		s.hooks.emit(mustJSON(struct {
			CreatedAt      string      `json:"createdAt"`
			Secret         string      `json:"secret"`
			Status         toss.Status `json:"status"`
			TransactionKey string      `json:"transactionKey"`
			OrderID        string      `json:"orderId"`
		}{created, o.secret, o.status, o.lastTransactionKey, o.id}))
	}
	if c != nil && o.overseas {
		s.hooks.emit(mustJSON(struct {
			EventType string     `json:"eventType"`
			CreatedAt string     `json:"createdAt"`
			Data      cancelJSON `json:"data"`
		}{EventCancelStatusChanged, created, c.render()}))
	}
}

// delivery is one webhook event on its way to the merchant.
type delivery struct {
	url, id string
	body    []byte
	retried int // attempts made so far that failed
	// after is an event held back behind this one (a reorder fault), released once this
	// one's first attempt is over.
	after *delivery
}

// webhooks delivers webhook events with Toss's headers and retry schedule, and the webhook
// faults. It holds at most limit deliveries (queued, in flight, waiting for a retry or a
// delay) and runs at most workers goroutines, started with the first event.
type webhooks struct {
	now     func() time.Time
	chaos   *chaos
	client  *http.Client
	scale   float64
	timeout time.Duration
	workers int
	limit   int

	url    atomic.Pointer[string]
	queue  chan *delivery // capacity limit, so a send while pending <= limit never blocks
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex // guards the fields below
	started   bool
	closed    bool
	pending   int                      // deliveries admitted and not finished
	timers    map[*time.Timer]struct{} // retries, delays and the reorder timeout to come
	parked    *delivery                // held back until the next event has been sent
	parkTimer *time.Timer

	n struct {
		events, attempts, delivered, retries, abandoned, overflowed, dropped, duplicated, reordered, delayed atomic.Int64
	}
}

func newWebhooks(o WebhookOptions, now func() time.Time, c *chaos) *webhooks {
	h := &webhooks{now: now, chaos: c, client: o.Client, scale: o.RetryScale, timeout: o.Timeout, workers: o.Workers,
		limit: o.QueueSize, timers: map[*time.Timer]struct{}{}}
	if h.scale <= 0 {
		h.scale = 1
	}
	if h.timeout <= 0 {
		h.timeout = 10 * time.Second
	}
	if h.workers <= 0 {
		h.workers = 2
	}
	if h.limit <= 0 {
		h.limit = 1024
	}
	if h.client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = h.workers
		h.client = &http.Client{Transport: t}
	}
	h.queue = make(chan *delivery, h.limit)
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.setURL(o.URL)
	return h
}

func (h *webhooks) setURL(u string) { h.url.Store(&u) }

func (h *webhooks) enabled() bool { return *h.url.Load() != "" }

func (h *webhooks) stats() WebhookStats {
	return WebhookStats{Events: h.n.events.Load(), Attempts: h.n.attempts.Load(), Delivered: h.n.delivered.Load(),
		Retries: h.n.retries.Load(), Abandoned: h.n.abandoned.Load(), Overflowed: h.n.overflowed.Load(),
		Dropped: h.n.dropped.Load(), Duplicated: h.n.duplicated.Load(), Reordered: h.n.reordered.Load(),
		Delayed: h.n.delayed.Load()}
}

// emit hands one event to delivery, with the fault drawn for it. It never blocks on the
// merchant: a full queue drops the event (counted).
func (h *webhooks) emit(body []byte) {
	url := *h.url.Load()
	if url == "" {
		return
	}
	h.n.events.Add(1)
	fault, delay := h.chaos.drawWebhook()
	d := &delivery{url: url, id: "whtrans_" + strings.ToLower(rand.Text()), body: body}

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	if fault == webhookFaultDrop {
		h.n.dropped.Add(1)
		return
	}
	if h.pending >= h.limit {
		h.n.overflowed.Add(1)
		return
	}
	if !h.started {
		h.started = true
		h.wg.Add(h.workers)
		for range h.workers {
			go h.work()
		}
	}
	h.pending++
	if prev := h.parked; prev != nil {
		// The event held back goes right after this one.
		h.parked = nil
		h.stopLocked(h.parkTimer)
		d.after = prev
	}
	switch fault {
	case webhookFaultReorder:
		h.n.reordered.Add(1)
		if delay <= 0 {
			delay = time.Second
		}
		h.parked = d
		h.parkTimer = h.laterLocked(delay, func() {
			if h.parked == d {
				h.parked = nil
				h.queue <- d
			}
		})
	case webhookFaultDelay:
		h.n.delayed.Add(1)
		h.laterLocked(delay, func() { h.queue <- d })
	default:
		h.queue <- d
	}
	if fault == webhookFaultDuplicate && h.pending < h.limit {
		h.n.duplicated.Add(1)
		h.pending++
		h.queue <- &delivery{url: d.url, id: d.id, body: d.body}
	}
}

// laterLocked runs f under h.mu after delay, unless the simulator is closed first. Call
// with h.mu held.
func (h *webhooks) laterLocked(delay time.Duration, f func()) *time.Timer {
	var t *time.Timer
	t = time.AfterFunc(delay, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.timers[t]; !ok {
			return // stopped, or closed
		}
		delete(h.timers, t)
		f()
	})
	h.timers[t] = struct{}{}
	return t
}

func (h *webhooks) stopLocked(t *time.Timer) {
	if t != nil {
		t.Stop()
		delete(h.timers, t)
	}
}

func (h *webhooks) work() {
	defer h.wg.Done()
	for {
		select {
		case <-h.ctx.Done():
			return
		case d := <-h.queue:
			h.attempt(d)
		}
	}
}

// attempt makes one attempt at d and decides what follows: done on 200, else the next
// retry on Toss's schedule, or giving up after the seventh.
func (h *webhooks) attempt(d *delivery) {
	ok := h.post(d)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	if next := d.after; next != nil {
		d.after = nil
		h.queue <- next
	}
	switch {
	case ok:
		h.pending--
	case d.retried < len(RetrySchedule):
		delay := time.Duration(float64(RetrySchedule[d.retried]) / h.scale)
		d.retried++
		h.laterLocked(delay, func() { h.queue <- d })
	default:
		h.n.abandoned.Add(1)
		h.pending--
	}
}

// post sends d once and reports whether the merchant answered 200.
func (h *webhooks) post(d *delivery) bool {
	ctx, cancel := context.WithTimeout(h.ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(d.body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTransmissionID, d.id)
	req.Header.Set(HeaderTransmissionTime, tossTime(h.now()))
	req.Header.Set(HeaderTransmissionRetried, strconv.Itoa(d.retried))
	h.n.attempts.Add(1)
	if d.retried > 0 {
		h.n.retries.Add(1)
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxRequestBody))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	h.n.delivered.Add(1)
	return true
}

// close abandons what is queued or waiting and cancels attempts in flight, then waits for
// the workers to end.
func (h *webhooks) close() {
	h.mu.Lock()
	if !h.closed {
		h.closed = true
		for t := range h.timers {
			t.Stop()
		}
		h.timers = nil
		h.parked = nil
	}
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
}
