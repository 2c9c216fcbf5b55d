package commands

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/google/uuid"

	"github.com/paystream/paystream/aggregate"
)

// WebhookInbox persists Toss webhooks, answers, and works them off in the background: a
// deposit callback's secret is checked, then Service.Reconcile looks the payment up. Safe
// for concurrent use.
type WebhookInbox struct {
	svc *Service
	log *slog.Logger
	// MaxBacklog bounds the webhooks held and not worked off yet.
	maxBacklog int
	wake       chan struct{}

	// writeMu is held by the one goroutine writing to the inbox's streams (inbox_store.go),
	// taken before mu.
	writeMu sync.Mutex

	mu      sync.Mutex
	seen    map[string]string // transmission id → day stream
	heads   map[string]streamHead
	pending *list.List // of *inboxItem, oldest first
	inQueue map[string]*list.Element
	queued  []*inboxWrite // waiting for the writer, oldest first
}

type inboxItem struct {
	stream   string
	received WebhookReceived
	failures int
	notUntil time.Time
}

// NewWebhookInbox returns an inbox that holds at most maxBacklog webhooks not worked off
// (default 100 000). The second argument is ignored (it was the in-memory dedup window;
// deduplication now covers InboxRetentionDays).
func NewWebhookInbox(svc *Service, maxBacklog, _ int) *WebhookInbox {
	if maxBacklog <= 0 {
		maxBacklog = 100_000
	}
	return &WebhookInbox{svc: svc, log: svc.log.With("component", "webhooks"), maxBacklog: maxBacklog,
		wake: make(chan struct{}, 1), seen: map[string]string{}, heads: map[string]streamHead{},
		pending: list.New(), inQueue: map[string]*list.Element{}}
}

// inboxStream is the inbox stream of the day t falls on (UTC).
func inboxStream(t time.Time) string { return WebhookStreamPrefix + t.UTC().Format("20060102") }

// Accept stores w in the inbox; once it returns nil the webhook survives a crash and may be
// answered 200. A transmission already stored is accepted again without a second copy.
// Errors: ErrInboxFull, or the store's (the caller should answer so that Toss retries).
func (in *WebhookInbox) Accept(ctx context.Context, w Webhook) error {
	now := in.svc.cfg.Now().UTC()
	rec := WebhookReceived{TransmissionID: w.TransmissionID, EventType: w.EventType, OrderID: w.OrderID, Status: w.Status,
		ReceivedAt: now}
	if rec.TransmissionID == "" {
		rec.TransmissionID = "paystream-" + uuid.Must(uuid.NewV7()).String()
	}
	if w.Secret != "" {
		rec.SecretHash = in.svc.secretHash(w.Secret)
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	in.mu.Lock()
	if _, dup := in.seen[rec.TransmissionID]; dup {
		in.mu.Unlock()
		return nil
	}
	if in.pending.Len()+len(in.queued) >= in.maxBacklog {
		in.mu.Unlock()
		return ErrInboxFull
	}
	write := &inboxWrite{stream: inboxStream(now), name: NameWebhookReceived, transmissionID: rec.TransmissionID, data: data,
		received: &rec}
	in.queued = append(in.queued, write)
	in.mu.Unlock()
	if err := in.commit(ctx, write); err != nil {
		return fmt.Errorf("store webhook %s: %w", rec.TransmissionID, err)
	}
	return nil // stored now and queued, or stored before (here or by another instance, which works it off)
}

// Ignore counts and logs a well-formed webhook that names no payment we act on (e.g.
// CANCEL_STATUS_CHANGED, BILLING_DELETED, payout.changed). eventType must come from a
// bounded set: it becomes a metric label.
func (in *WebhookInbox) Ignore(eventType, reason string) {
	in.svc.sig.webhookIgnored(eventType)
	in.log.Info("webhook ignored", "event_type", eventType, "reason", reason)
}

// Backlog is how many stored webhooks are not worked off yet.
func (in *WebhookInbox) Backlog() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.pending.Len()
}

func (in *WebhookInbox) enqueueLocked(stream string, rec WebhookReceived) {
	if _, queued := in.inQueue[rec.TransmissionID]; queued {
		return
	}
	in.inQueue[rec.TransmissionID] = in.pending.PushBack(&inboxItem{stream: stream, received: rec})
	in.svc.sig.webhookBacklog.Store(int64(in.pending.Len()))
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// Run restores the inbox, then works webhooks off until ctx ends, oldest first. A webhook
// whose reconciliation fails is retried later with backoff (up to a minute apart).
func (in *WebhookInbox) Run(ctx context.Context) error {
	for {
		err := in.Restore(ctx)
		if err == nil {
			break
		}
		in.log.Error("restoring the webhook inbox", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	for ctx.Err() == nil {
		items, wait := in.due()
		if len(items) == 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-in.wake:
			case <-prune.C:
				in.mu.Lock()
				in.pruneLocked(in.svc.cfg.Now())
				in.mu.Unlock()
			case <-time.After(wait):
			}
			continue
		}
		in.work(ctx, items) // when ctx ended mid-work, the items left stay due and the loop ends
	}
	return ctx.Err()
}

// workBatch bounds the webhooks worked off between two writes of their WebhookProcessed.
const workBatch = 256

// due is the oldest webhooks due now (at most workBatch), or how long to wait for one.
func (in *WebhookInbox) due() ([]*inboxItem, time.Duration) {
	in.mu.Lock()
	defer in.mu.Unlock()
	now := time.Now()
	wait := time.Minute
	var items []*inboxItem
	for e := in.pending.Front(); e != nil && len(items) < workBatch; e = e.Next() {
		it := e.Value.(*inboxItem)
		if !now.Before(it.notUntil) {
			items = append(items, it)
			continue
		}
		wait = min(wait, it.notUntil.Sub(now))
	}
	return items, wait
}

// work reconciles webhooks one by one, then marks those worked off processed, in one write.
func (in *WebhookInbox) work(ctx context.Context, items []*inboxItem) {
	var done []*inboxItem
	var marks []*inboxWrite
	for _, it := range items {
		r := it.received
		did, err := in.svc.ReconcileWebhook(ctx, r, Meta{CorrelationID: r.TransmissionID, Actor: "toss-webhook"})
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			in.mu.Lock()
			it.failures++
			backoff := min(time.Minute, time.Second<<min(it.failures, 6))
			it.notUntil = time.Now().Add(backoff)
			in.mu.Unlock()
			in.log.Error("reconciling webhook", "order_id", r.OrderID, "transmission_id", r.TransmissionID,
				"event_type", r.EventType, "attempt", it.failures, "retry_in", backoff, "err", err)
			continue
		}
		in.log.Info("webhook worked off", "order_id", r.OrderID, "transmission_id", r.TransmissionID, "event_type", r.EventType, "did", did)
		data, err := json.Marshal(WebhookProcessed{TransmissionID: r.TransmissionID, Did: did, At: in.svc.cfg.Now().UTC()})
		if err != nil {
			in.log.Warn("webhook worked off but not marked processed", "transmission_id", r.TransmissionID, "err", err)
		} else {
			marks = append(marks, &inboxWrite{stream: it.stream, name: NameWebhookProcessed, transmissionID: r.TransmissionID, data: data})
		}
		done = append(done, it)
	}
	if len(marks) > 0 {
		in.mu.Lock()
		in.queued = append(in.queued, marks...)
		in.mu.Unlock()
		if err := in.commit(ctx, marks...); err != nil {
			// Worked off, but a restart will work them off again: harmless, reconciling is idempotent.
			in.log.Warn("webhooks worked off but not marked processed", "webhooks", len(marks), "err", err)
		}
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, it := range done {
		if e, ok := in.inQueue[it.received.TransmissionID]; ok {
			in.pending.Remove(e)
			delete(in.inQueue, it.received.TransmissionID)
		}
	}
	in.svc.sig.webhookBacklog.Store(int64(in.pending.Len()))
}

// statusDone is the provider's word, in a webhook, for a record approved and not cancelled.
const statusDone = "DONE"

// ReconcileWebhook works off one stored webhook: a deposit callback whose secret does not
// match the one recorded with the payment's virtual account is refused (counted, alerted,
// nothing recorded); a hint that Toss's record is DONE, for a payment recorded SUCCESS,
// repeats what is recorded (the approval's own webhook); everything else is a hint for
// Reconcile, which looks the payment up (on the payment loaded here: one read of its stream).
//
// The repeated approval is not looked up: that would double the calls to Toss of every
// payment, and a change of Toss's record after the approval (a cancel made there, a deposit
// error) comes with a hint of its own status. Trusting the hint this far can only skip
// a lookup, never record anything: a forged DONE finds nothing to do either.
func (s *Service) ReconcileWebhook(ctx context.Context, r WebhookReceived, meta Meta) (string, error) {
	p, err := s.Load(ctx, r.OrderID)
	if errors.Is(err, aggregate.ErrNotFound) {
		return "unknown payment", nil
	}
	if err != nil {
		return "", err
	}
	if r.SecretHash != "" && !s.checkDepositCallback(p, r.SecretHash) {
		return "refused: secret mismatch", nil
	}
	if r.Status == statusDone && p.Status == aggregate.StatusSuccess {
		return "already recorded: the hint repeats it", nil
	}
	return s.reconcile(ctx, p, meta)
}
