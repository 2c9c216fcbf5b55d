package commands

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
)

// Reconcile acts on a hint that Toss's record of a payment changed (a webhook). Hints are
// unsigned and may be forged, so it never trusts them: it looks the payment up and records
// only what Toss's record decides, for a payment that is open (UNKNOWN, or EXECUTING past
// the timeout). A settled payment whose record disagrees with ours raises an operator alert.
// It never confirms. It returns what it did, for logs.
func (s *Service) Reconcile(ctx context.Context, orderID string, meta Meta) (string, error) {
	meta = meta.forCommand()
	p, err := s.Load(ctx, orderID)
	if errors.Is(err, aggregate.ErrNotFound) {
		return "unknown payment", nil
	}
	if err != nil {
		return "", err
	}
	now := s.cfg.Now().UTC()
	open := p.OutcomeOpen(now.Add(-s.cfg.Recovery.ExecutingTimeout))
	switch {
	case open && p.FailedCount >= s.cfg.Recovery.Threshold:
		return "left to recovery", nil // its next claim escalates it to a person
	case p.Status.Approved():
		// Approved: what can change at Toss is a cancel made there (its console, a card company).
		n, err := s.RecordExternalRefunds(ctx, orderID, "webhook", meta)
		if isRefundInProgress(err) {
			return "left to recovery", nil // our own refund is open; the cancel may be it
		}
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("recorded %d external refunds", n), nil
	case !open && !p.Status.Terminal():
		return "nothing to reconcile", nil
	}
	rec := s.lookup(ctx, p.State)
	if !rec.Decided {
		return "lookup undecided", nil
	}
	v := rec.Verdict
	if !open {
		if v.Status != p.Status {
			s.sig.contradictions.Add(1)
			s.sig.alert(now, "Toss's record contradicts "+orderID)
			s.log.Error("Toss's record contradicts the recorded outcome", "order_id", orderID, "recorded", p.Status,
				"toss", v.Status, "rule", v.Rule, "toss_status", v.Code)
			return "contradiction alerted", nil
		}
		return "already recorded", nil
	}
	// Claim, then record what the lookup decided.
	claimed, err := s.claim(ctx, p, now, meta)
	if errors.Is(err, eventstore.ErrConcurrency) {
		return "claimed elsewhere", nil
	}
	if err != nil {
		return "", err
	}
	if _, err := s.record(ctx, claimed.Payment, v, meta, claimed.cause); err != nil {
		return "", err
	}
	return "recorded " + string(v.Status), nil
}

// WebhookInbox takes Toss webhook hints, answers at once, and reconciles them in the
// background, skipping transmission ids it has already seen (the last `remember` of them —
// duplicates beyond that only cost a lookup). Safe for concurrent use.
type WebhookInbox struct {
	svc   *Service
	log   *slog.Logger
	queue chan hint

	mu       sync.Mutex
	seen     map[string]*list.Element
	order    *list.List
	remember int
}

type hint struct{ orderID, transmissionID string }

// NewWebhookInbox returns an inbox with room for `capacity` queued hints.
func NewWebhookInbox(svc *Service, capacity, remember int) *WebhookInbox {
	return &WebhookInbox{svc: svc, log: svc.log.With("component", "webhooks"), queue: make(chan hint, capacity),
		seen: map[string]*list.Element{}, order: list.New(), remember: remember}
}

// Offer queues a hint. It reports false when the queue is full (the caller should ask Toss to
// retry later); a duplicate transmission is accepted and dropped.
func (in *WebhookInbox) Offer(orderID, transmissionID string) bool {
	if transmissionID != "" && !in.firstSight(transmissionID) {
		return true
	}
	select {
	case in.queue <- hint{orderID, transmissionID}:
		return true
	default:
		in.forget(transmissionID)
		return false
	}
}

// Ignore counts and logs a well-formed webhook that names no payment we act on (e.g.
// CANCEL_STATUS_CHANGED, BILLING_DELETED, payout.changed). eventType must come from a
// bounded set: it becomes a metric label.
func (in *WebhookInbox) Ignore(eventType, reason string) {
	in.svc.sig.webhookIgnored(eventType)
	in.log.Info("webhook ignored", "event_type", eventType, "reason", reason)
}

func (in *WebhookInbox) firstSight(id string) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	if _, ok := in.seen[id]; ok {
		return false
	}
	in.seen[id] = in.order.PushBack(id)
	if in.order.Len() > in.remember {
		oldest := in.order.Front()
		in.order.Remove(oldest)
		delete(in.seen, oldest.Value.(string))
	}
	return true
}

func (in *WebhookInbox) forget(id string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if e, ok := in.seen[id]; ok {
		in.order.Remove(e)
		delete(in.seen, id)
	}
}

// Run reconciles queued hints until ctx ends.
func (in *WebhookInbox) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case h := <-in.queue:
			did, err := in.svc.Reconcile(ctx, h.orderID, Meta{CorrelationID: h.transmissionID, Actor: "toss-webhook"})
			if err != nil {
				in.log.Error("reconciling webhook hint", "order_id", h.orderID, "transmission_id", h.transmissionID, "err", err)
				continue
			}
			in.log.Info("webhook hint", "order_id", h.orderID, "transmission_id", h.transmissionID, "did", did)
		}
	}
}
