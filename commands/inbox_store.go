package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/audit"
	"github.com/paystream/paystream/eventstore"
)

// The webhook inbox keeps every accepted webhook in the event store before it is answered
// 200, so that a crash after the answer loses nothing (Toss does not resend a webhook it was
// answered 200 for). Webhooks of one UTC day share a stream, WebhookStreamPrefix + YYYYMMDD,
// which the payment followers do not follow (they follow aggregate.StreamPrefix): a
// WebhookReceived for each accepted transmission, a WebhookProcessed once it was worked off.
// After a restart the inbox reads the last InboxRetentionDays days and works off what was
// received and not processed. Transmission ids seen within those days are not stored twice.
// Streams older than that are never read again (the store's own retention, e.g.
// EventStoreDB's $maxAge, may drop them).

// WebhookStreamPrefix starts the name of every webhook-inbox stream.
const WebhookStreamPrefix = "webhook-inbox-"

// Names of the inbox's stored events (frozen; golden files in testdata/events).
const (
	NameWebhookReceived  = "webhook.received.v1"
	NameWebhookProcessed = "webhook.processed.v1"
)

// InboxRetentionDays bounds what the inbox reads at start and deduplicates against: Toss
// retries a webhook for about 3.8 days (1, 4, 16 … 4096 minutes), so a week covers them.
const InboxRetentionDays = 7

// ErrInboxFull: the inbox holds MaxBacklog webhooks not worked off yet; the caller should ask
// the sender to retry later.
var ErrInboxFull = errors.New("webhook inbox full")

// Webhook is one Toss webhook as the HTTP layer accepted it.
type Webhook struct {
	TransmissionID string // tosspayments-webhook-transmission-id; empty: not deduplicated
	EventType      string // a bounded label (PAYMENT_STATUS_CHANGED, DEPOSIT_CALLBACK …)
	OrderID        string
	// Secret is a DEPOSIT_CALLBACK's secret. Only its keyed hash is stored.
	Secret aggregate.Secret
	Status string // what the webhook claims (never believed: a lookup decides)
}

// WebhookReceived records an accepted webhook in the inbox.
type WebhookReceived struct {
	TransmissionID string `json:"transmissionId"`
	EventType      string `json:"eventType"`
	OrderID        string `json:"orderId"`
	// SecretHash is the keyed hash of a deposit callback's secret, compared with the one
	// recorded for the payment's virtual account.
	SecretHash string    `json:"secretHash,omitempty"`
	Status     string    `json:"status,omitempty"`
	ReceivedAt time.Time `json:"receivedAt"`
}

// WebhookProcessed records that a received webhook was worked off, and what that did.
type WebhookProcessed struct {
	TransmissionID string    `json:"transmissionId"`
	Did            string    `json:"did"`
	At             time.Time `json:"at"`
}

// streamHead is where an inbox stream ends, as this inbox last read or appended it: its
// revision and the hash of its last event (what the next event chains to).
type streamHead struct {
	revision eventstore.Revision
	hash     string
}

// inboxWrite is one inbox event waiting to be written.
type inboxWrite struct {
	stream         string
	name           string // NameWebhookReceived or NameWebhookProcessed
	transmissionID string // the event's key and correlation id
	data           []byte
	received       *WebhookReceived // a received webhook, queued for work once written
	err            error            // the write's outcome, set by the writer
}

// inboxWriteTimeout bounds one write of the inbox, which no single caller's context ends.
const inboxWriteTimeout = 10 * time.Second

// commit returns once ws, which the caller added to in.queued, are written, or why they
// are not. Webhooks arrive concurrently, and every write to a day's stream must follow the
// last one: so the caller that gets writeMu writes everything queued by then, one append
// per day stream, and concurrent webhooks share that append and its fsync (group commit)
// instead of waiting for each other's.
func (in *WebhookInbox) commit(ctx context.Context, ws ...*inboxWrite) error {
	in.writeMu.Lock()
	in.mu.Lock()
	batch := in.queued
	in.queued = nil
	in.mu.Unlock()
	if len(batch) > 0 { // else an earlier writer took ws along
		in.flush(ctx, batch)
	}
	in.writeMu.Unlock()
	var err error
	for _, w := range ws {
		err = errors.Join(err, w.err)
	}
	return err
}

// flush writes batch, in order, and sets each write's outcome. Callers hold writeMu.
func (in *WebhookInbox) flush(ctx context.Context, batch []*inboxWrite) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), inboxWriteTimeout)
	defer cancel()
	for len(batch) > 0 {
		stream := batch[0].stream // mostly all of them: a batch spans midnight UTC at most
		var same, rest []*inboxWrite
		for _, w := range batch {
			if w.stream == stream {
				same = append(same, w)
			} else {
				rest = append(rest, w)
			}
		}
		err := in.appendWrites(ctx, stream, same)
		for _, w := range same {
			w.err = err
		}
		batch = rest
	}
}

// appendWrites appends ws to stream in one append, at the stream's known head, re-reading
// the stream when another instance wrote to it. A received webhook whose transmission the
// stream already holds (stored earlier in the batch, or by another instance) is not written
// again. Event ids derive from the transmission, so a retried append that landed is
// recognised. Callers hold writeMu.
func (in *WebhookInbox) appendWrites(ctx context.Context, stream string, ws []*inboxWrite) error {
	return retryConflicts(stream, func() error {
		in.mu.Lock()
		head, known := in.heads[stream]
		if !known {
			var err error
			if head, err = in.readLocked(ctx, stream, false); err != nil {
				in.mu.Unlock()
				return err
			}
		}
		todo := make([]*inboxWrite, 0, len(ws))
		inBatch := map[string]bool{}
		for _, w := range ws {
			if w.received != nil {
				if in.seen[w.transmissionID] != "" || inBatch[w.transmissionID] {
					continue
				}
				inBatch[w.transmissionID] = true
			}
			todo = append(todo, w)
		}
		in.mu.Unlock()
		if len(todo) == 0 {
			return nil
		}
		records, metas := make([]Record, len(todo)), make([]Meta, len(todo))
		for i, w := range todo {
			records[i] = Record{Name: w.name, Data: w.data}
			metas[i] = Meta{CorrelationID: w.transmissionID, Actor: "toss-webhook", commandID: w.transmissionID}
		}
		res, hash, err := in.svc.appendRecords(ctx, stream, head.revision, head.hash, records, metas)
		in.mu.Lock()
		defer in.mu.Unlock()
		if err != nil {
			delete(in.heads, stream) // someone else wrote, or in doubt: read again
			return err
		}
		in.heads[stream] = streamHead{res.Revision, hash}
		for _, w := range todo {
			if w.received != nil {
				in.seen[w.transmissionID] = stream
				in.enqueueLocked(stream, *w.received)
				in.svc.sig.webhooksStored.Add(1)
			}
		}
		return nil
	})
}

// readLocked reads an inbox stream, marks its transmissions seen, and — when queue is set —
// queues those received and not processed. It returns the stream's head.
func (in *WebhookInbox) readLocked(ctx context.Context, stream string, queue bool) (streamHead, error) {
	recorded, err := in.svc.cfg.Store.ReadStream(ctx, stream)
	if err != nil {
		return streamHead{}, fmt.Errorf("read %s: %w", stream, err)
	}
	var received []WebhookReceived
	processed := map[string]bool{}
	for _, e := range recorded {
		switch e.Type {
		case NameWebhookReceived:
			var r WebhookReceived
			if err := json.Unmarshal(e.Data, &r); err != nil {
				return streamHead{}, fmt.Errorf("decode %s at %s/%d: %w", e.Type, stream, e.Revision, err)
			}
			received = append(received, r)
			in.seen[r.TransmissionID] = stream
		case NameWebhookProcessed:
			var p WebhookProcessed
			if err := json.Unmarshal(e.Data, &p); err != nil {
				return streamHead{}, fmt.Errorf("decode %s at %s/%d: %w", e.Type, stream, e.Revision, err)
			}
			processed[p.TransmissionID] = true
		}
	}
	if queue {
		for _, r := range received {
			if !processed[r.TransmissionID] {
				in.enqueueLocked(stream, r)
			}
		}
	}
	head := streamHead{revision: eventstore.NoStream}
	if n := len(recorded); n > 0 {
		head = streamHead{recorded[n-1].Revision, audit.LinksOf(recorded[n-1].Metadata).Hash}
	}
	in.heads[stream] = head
	return head, nil
}

// Restore reads the last InboxRetentionDays days of the inbox and queues what was received
// and not worked off (webhooks answered before a crash). Run calls it first.
func (in *WebhookInbox) Restore(ctx context.Context) error {
	in.writeMu.Lock()
	defer in.writeMu.Unlock()
	in.mu.Lock()
	defer in.mu.Unlock()
	now := in.svc.cfg.Now()
	for d := InboxRetentionDays - 1; d >= 0; d-- { // oldest first
		if _, err := in.readLocked(ctx, inboxStream(now.AddDate(0, 0, -d)), true); err != nil {
			return err
		}
	}
	in.pruneLocked(now)
	if n := in.pending.Len(); n > 0 {
		in.log.Info("webhooks restored from the inbox", "backlog", n)
	}
	return nil
}

// pruneLocked forgets transmissions older than the retention.
func (in *WebhookInbox) pruneLocked(now time.Time) {
	oldest := inboxStream(now.AddDate(0, 0, -(InboxRetentionDays - 1)))
	for id, stream := range in.seen {
		if strings.Compare(stream, oldest) < 0 {
			delete(in.seen, id)
		}
	}
	for stream := range in.heads {
		if strings.Compare(stream, oldest) < 0 {
			delete(in.heads, stream)
		}
	}
}
