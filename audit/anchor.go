package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/cockroachdb/pebble"
	"github.com/google/uuid"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
)

// Anchors are signed with Ed25519 rather than an HMAC: whoever checks an anchor needs only
// the public key, which can be printed with the anchor and handed to auditors, regulators
// or a notary; an HMAC key would have to be shared with every checker, and anyone holding
// it could forge anchors. Ed25519 signatures are deterministic, small (64 bytes) and in the
// standard library.

// AnchorStream is the stream anchors are recorded in; NameAnchorRecorded their event type.
const (
	AnchorStream       = "audit-anchors"
	NameAnchorRecorded = "audit.anchor-recorded.v1"
)

// ErrNoAnchor: no anchor has been recorded (or anchors are off).
var ErrNoAnchor = errors.New("no anchor recorded")

// StreamHead is a stream's last event at an anchor's position.
type StreamHead struct {
	Stream   string              `json:"stream"`
	Revision eventstore.Revision `json:"revision"`
	Hash     string              `json:"hash"`
}

// Anchor is a signed digest over every payment stream's head at a store position. Heads
// lists the heads that changed since the previous anchor (so a stream's anchored head is
// in the latest anchor that lists it); Digest covers all of them.
type Anchor struct {
	Sequence  int64        `json:"sequence"`
	Position  uint64       `json:"position"`
	At        time.Time    `json:"at"`
	Streams   int          `json:"streams"`
	Digest    string       `json:"digest"`
	Heads     []StreamHead `json:"heads"`
	Previous  string       `json:"previous,omitempty"` // hash of the previous anchor's event
	Algorithm string       `json:"algorithm"`
	PublicKey string       `json:"publicKey"` // base64
	Signature string       `json:"signature,omitempty"`
}

// signed is what the signature covers: the anchor without its signature.
func (a Anchor) signed() []byte {
	a.Signature = ""
	b, _ := json.Marshal(a)
	return b
}

// Check verifies the anchor's signature with its public key, and that the key is pub
// when pub is given (an auditor checks against the key they were handed).
func (a Anchor) Check(pub ed25519.PublicKey) error {
	key, err := base64.StdEncoding.DecodeString(a.PublicKey)
	sig, err2 := base64.StdEncoding.DecodeString(a.Signature)
	switch {
	case a.Algorithm != "ed25519" || err != nil || err2 != nil || len(key) != ed25519.PublicKeySize:
		return fmt.Errorf("anchor %d: malformed signature", a.Sequence)
	case pub != nil && !pub.Equal(ed25519.PublicKey(key)):
		return fmt.Errorf("anchor %d: signed with another key", a.Sequence)
	case !ed25519.Verify(key, a.signed(), sig):
		return fmt.Errorf("anchor %d: the signature does not match", a.Sequence)
	}
	return nil
}

// Digest is SHA-256 over every head, sorted by stream: "stream\nrevision\nhash\n" each.
func Digest(heads map[string]Head) string {
	names := make([]string, 0, len(heads))
	for s := range heads {
		names = append(names, s)
	}
	sort.Strings(names)
	d := newDigester()
	for _, s := range names {
		d.add(s, heads[s])
	}
	return d.sum()
}

// digester computes Digest one head at a time, given in stream order.
type digester struct {
	h       hash.Hash
	streams int
}

func newDigester() *digester { return &digester{h: sha256.New()} }

func (d *digester) add(stream string, head Head) {
	fmt.Fprintf(d.h, "%s\n%d\n%s\n", stream, head.Revision, head.Hash)
	d.streams++
}

func (d *digester) sum() string { return "sha256:" + hex.EncodeToString(d.h.Sum(nil)) }

// AnchorStore is what the Anchorer needs of the event store.
type AnchorStore interface {
	ReadStream(ctx context.Context, stream string) ([]eventstore.RecordedEvent, error)
	Append(ctx context.Context, stream string, expected eventstore.Revision, events []eventstore.Event) (eventstore.AppendResult, error)
	Follow(ctx context.Context, after eventstore.Position, prefix string, handle eventstore.Handler) error
}

// Anchorer follows every payment stream's head and records a signed anchor over them
// when asked (Record; Run does so periodically). Memory: one head per stream, or with
// WithHeadsIn none (see there). Safe for concurrent use.
type Anchorer struct {
	store AnchorStore
	key   ed25519.PrivateKey
	log   *slog.Logger
	now   func() time.Time

	mu       sync.Mutex
	book     headBook
	position eventstore.Position // followed up to
	latest   *Anchor
	rev      eventstore.Revision // of the anchor stream
	prevHash string
	loaded   bool
	closed   bool
}

// ErrAnchorerClosed: the Anchorer was closed.
var ErrAnchorerClosed = errors.New("anchorer closed")

// AnchorerOption configures an Anchorer.
type AnchorerOption func(*Anchorer)

// WithHeadsIn keeps the heads in db (a localkv database; the Anchorer closes it in Close)
// rather than in memory, so that the Anchorer's memory does not grow
// with the streams: only the heads that changed since the latest anchor are held. Each
// anchor then reads every anchored head from db, and Follow starts at the latest anchor's
// position instead of the start of the store (the anchors recorded so far give every head
// up to there). That holds only while this Anchorer is the only one recording anchors in
// the store, as with the embedded store's data directory (one process at a time).
func WithHeadsIn(db *pebble.DB) AnchorerOption {
	return func(a *Anchorer) { a.book = &diskHeads{db: db, changedSince: map[string]Head{}} }
}

// NewAnchorer returns an Anchorer signing with key.
func NewAnchorer(store AnchorStore, key ed25519.PrivateKey, log *slog.Logger, opts ...AnchorerOption) *Anchorer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Anchorer{store: store, key: key, log: log, now: time.Now, book: newMemoryHeads(), rev: eventstore.NoStream}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Close ends the Anchorer's use of its heads, and closes their database (WithHeadsIn).
// Call it once Run has returned; Record, Latest and HeadOf fail with ErrAnchorerClosed from
// then on (a request still running at shutdown gets that rather than a closed database).
func (a *Anchorer) Close() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil
	}
	a.closed = true
	return a.book.close()
}

// load reads the anchors recorded so far (once).
func (a *Anchorer) load(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrAnchorerClosed
	}
	if a.loaded {
		return nil
	}
	recorded, err := a.store.ReadStream(ctx, AnchorStream)
	if err != nil {
		return fmt.Errorf("read %s: %w", AnchorStream, err)
	}
	if err := a.book.clearAnchored(); err != nil {
		return fmt.Errorf("anchored heads: %w", err)
	}
	for _, e := range recorded {
		var an Anchor
		if err := json.Unmarshal(e.Data, &an); err != nil {
			return fmt.Errorf("%s at %d: %w", AnchorStream, e.Revision, err)
		}
		if err := a.book.anchor(an.Heads); err != nil {
			return fmt.Errorf("anchored heads: %w", err)
		}
		a.latest, a.rev, a.prevHash = &an, e.Revision, LinksOf(e.Metadata).Hash
	}
	a.loaded = true
	return nil
}

// Follow keeps the heads up to date until ctx ends: from the start of the store, or with
// WithHeadsIn from the latest anchor's position.
func (a *Anchorer) Follow(ctx context.Context) error {
	if err := a.load(ctx); err != nil {
		return err
	}
	a.mu.Lock()
	if a.book.resumes() && a.latest != nil {
		a.position = max(a.position, eventstore.Position(a.latest.Position))
	}
	from := a.position
	a.mu.Unlock()
	return a.store.Follow(ctx, from, aggregate.StreamPrefix, func(_ context.Context, e eventstore.RecordedEvent) error {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.book.follow(e.Stream, Head{Revision: e.Revision, Hash: LinksOf(e.Metadata).Hash})
		a.position = e.Position
		return nil
	})
}

// Run follows the heads and records an anchor every interval (when something changed)
// until ctx ends, and returns once its follow has stopped too.
func (a *Anchorer) Run(ctx context.Context, interval time.Duration) error {
	if err := a.load(ctx); err != nil {
		return err
	}
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		_ = a.Follow(ctx)
	}()
	defer func() { <-followed }() // nothing runs on once Run returned
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if an, ok, err := a.Record(ctx); err != nil {
				a.log.Error("anchor not recorded", "err", err)
			} else if ok {
				a.log.Info("anchor recorded", "sequence", an.Sequence, "position", an.Position, "streams", an.Streams, "digest", an.Digest)
			}
		}
	}
}

// Record appends an anchor over the heads followed so far, if any changed since the last
// one; ok reports whether it did.
func (a *Anchorer) Record(ctx context.Context) (Anchor, bool, error) {
	if err := a.load(ctx); err != nil {
		return Anchor{}, false, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return Anchor{}, false, ErrAnchorerClosed
	}
	changed := a.book.changed()
	if len(changed) == 0 {
		if a.latest != nil {
			return *a.latest, false, nil
		}
		return Anchor{}, false, nil
	}
	d, err := a.book.digest(changed)
	if err != nil {
		return Anchor{}, false, fmt.Errorf("anchor digest: %w", err)
	}
	an := Anchor{Sequence: int64(a.rev) + 2, Position: uint64(a.position), At: a.now().UTC(), Streams: d.streams,
		Digest: d.sum(), Heads: changed, Previous: a.prevHash, Algorithm: "ed25519",
		PublicKey: base64.StdEncoding.EncodeToString(a.key.Public().(ed25519.PublicKey))}
	an.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(a.key, an.signed()))
	data, err := json.Marshal(an)
	if err != nil {
		return Anchor{}, false, err
	}
	next := a.rev + 1
	md := map[string]any{"schemaVersion": 1, "actor": "paymentd:anchorer"}
	if a.prevHash != "" {
		md[FieldPrevHash] = a.prevHash
	}
	unsealed, _ := json.Marshal(md)
	hash, err := Seal(AnchorStream, next, NameAnchorRecorded, data, unsealed)
	if err != nil {
		return Anchor{}, false, err
	}
	md[FieldHash] = hash
	sealed, _ := json.Marshal(md)
	id := uuid.NewSHA1(uuid.NameSpaceURL, []byte(AnchorStream+"@"+strconv.FormatInt(int64(next), 10)+"/"+an.Digest))
	if _, err := a.store.Append(ctx, AnchorStream, a.rev, []eventstore.Event{{ID: id, Type: NameAnchorRecorded, Data: data, Metadata: sealed}}); err != nil {
		a.loaded = false // another instance anchored: read again next time
		return Anchor{}, false, fmt.Errorf("append %s at %d: %w", AnchorStream, a.rev, err)
	}
	a.latest, a.rev, a.prevHash = &an, next, hash
	a.book.recorded()
	if err := a.book.anchor(an.Heads); err != nil {
		a.loaded = false // read the anchored heads again next time
		return an, true, fmt.Errorf("anchor %d recorded; keeping its heads: %w", an.Sequence, err)
	}
	return an, true, nil
}

// Latest is the latest anchor recorded. Errors: ErrNoAnchor.
func (a *Anchorer) Latest(ctx context.Context) (Anchor, error) {
	if err := a.load(ctx); err != nil {
		return Anchor{}, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.latest == nil {
		return Anchor{}, ErrNoAnchor
	}
	return *a.latest, nil
}

// HeadOf is stream's head in the latest anchor listing it (nil when none does).
func (a *Anchorer) HeadOf(ctx context.Context, stream string) (*Head, error) {
	if err := a.load(ctx); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, ErrAnchorerClosed
	}
	h, ok, err := a.book.anchored(stream)
	if err != nil || !ok {
		return nil, err
	}
	return &h, nil
}

// ParseKey reads an Ed25519 signing key: "ed25519:" and the base64 of its 32-byte seed.
func ParseKey(s string) (ed25519.PrivateKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimSpace(s), "ed25519:"))
	if err != nil || len(b) != ed25519.SeedSize || !strings.HasPrefix(strings.TrimSpace(s), "ed25519:") {
		return nil, errors.New(`not "ed25519:<base64 of a 32-byte seed>"`)
	}
	return ed25519.NewKeyFromSeed(b), nil
}

// FormatKey is the form ParseKey reads.
func FormatKey(k ed25519.PrivateKey) string {
	return "ed25519:" + base64.StdEncoding.EncodeToString(k.Seed())
}
