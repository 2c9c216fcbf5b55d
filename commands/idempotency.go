package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/go-json-experiment/json/v1"

	"github.com/paystream/paystream/eventstore"
)

// A client's Idempotency-Key names one request, whatever the endpoint — Stripe's rule, the
// one merchants know: a retry with the same key and the same body gets the first answer;
// the same key with another body, another payment or another operation is refused with
// ErrIdempotencyKeyReused instead of being executed. paystream has one merchant account per
// deployment, so keys are scoped to the deployment (two shops sharing one paymentd must not
// share keys). The first request with a key claims it by creating the key's own stream; the
// exact-revision append makes the claim race-free across instances and durable across
// restarts. A request refused by validation claims nothing, so the corrected request may
// reuse its key.

// IdempotencyStreamPrefix starts the name of every key's stream. The payment followers do
// not follow it.
const IdempotencyStreamPrefix = "idempotency-"

// NameKeyClaimed is the stored name of KeyClaimed (frozen; golden file in testdata/events).
const NameKeyClaimed = "idempotency.key-claimed.v1"

// KeyClaimed records the request that first used an Idempotency-Key.
type KeyClaimed struct {
	Operation   string    `json:"operation"` // "checkout" or "confirm"
	OrderID     string    `json:"orderId"`
	RequestHash string    `json:"requestHash"` // fingerprint of the request's meaningful fields
	At          time.Time `json:"at"`
}

// idempotencyStream is the stream of one key: its hash, so that any printable key makes a
// valid stream name in every store and the key itself is not spelled out in stream lists.
func idempotencyStream(key string) string {
	sum := sha256.Sum256([]byte(key))
	return IdempotencyStreamPrefix + hex.EncodeToString(sum[:16])
}

// claimKey claims key for this request, or checks that its claim is this request's. An empty
// key claims nothing. Errors: ErrIdempotencyKeyReused, or the store's.
func (s *Service) claimKey(ctx context.Context, key string, want KeyClaimed, meta Meta) error {
	if key == "" {
		return nil
	}
	stream := idempotencyStream(key)
	for range 2 { // a lost race is answered by the winner's claim
		recorded, err := s.cfg.Store.ReadStream(ctx, stream)
		if err != nil {
			return fmt.Errorf("read idempotency key: %w", err)
		}
		if len(recorded) > 0 {
			var got KeyClaimed
			if recorded[0].Type != NameKeyClaimed {
				return fmt.Errorf("idempotency key stream %s holds %q", stream, recorded[0].Type)
			}
			if err := json.Unmarshal(recorded[0].Data, &got); err != nil {
				return fmt.Errorf("decode %s: %w", NameKeyClaimed, err)
			}
			if got.Operation != want.Operation || got.OrderID != want.OrderID || got.RequestHash != want.RequestHash {
				return fmt.Errorf("%w (first used to %s %s)", ErrIdempotencyKeyReused, got.Operation, got.OrderID)
			}
			return nil
		}
		want.At = s.cfg.Now().UTC()
		data, err := json.Marshal(want)
		if err != nil {
			return err
		}
		e, _, err := storedEvent(stream, 0, "", NameKeyClaimed, data, meta, "")
		if err != nil {
			return err
		}
		_, err = s.appendStored(ctx, stream, eventstore.NoStream, []eventstore.Event{e})
		if !errors.Is(err, eventstore.ErrConcurrency) {
			if err != nil {
				return fmt.Errorf("claim idempotency key: %w", err)
			}
			return nil
		}
	}
	return fmt.Errorf("claim idempotency key: %w", ErrContention)
}
