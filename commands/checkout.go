package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/go-json-experiment/json/v1"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
)

// CheckoutRequest asks for a new payment.
type CheckoutRequest struct {
	BuyerID string
	Items   []Item
	// IdempotencyKey, when set, makes the checkout repeatable: the orderId is derived from
	// it, so a retry finds the payment the first request created.
	IdempotencyKey string
}

// Item is one product line of a checkout.
type Item struct {
	ProductID string `json:"productId"`
	Quantity  int64  `json:"quantity"`
}

// Checkout prices the items from the catalog and records CheckoutCreated. A retry with the
// same Idempotency-Key returns the payment the first created; the same key with another
// request fails with ErrIdempotencyKeyReused. Items beyond Config.Limits (too many lines, a
// quantity or a total too large) fail with a *aggregate.ValidationError naming the field.
func (s *Service) Checkout(ctx context.Context, req CheckoutRequest, meta Meta) (Payment, error) {
	meta = meta.forCommand()
	// Bound the request before pricing it: no catalog lookup for line 10⁶, no product of an
	// unbounded quantity. Decide checks the same limits again on the priced lines.
	quantities := make([]int64, len(req.Items))
	for i, it := range req.Items {
		quantities[i] = it.Quantity
	}
	if err := s.cfg.Limits.CheckQuantities(quantities); err != nil {
		return Payment{}, err
	}
	hash := fingerprint(req.BuyerID, req.Items)
	orderID := newOrderID()
	if req.IdempotencyKey != "" {
		orderID = orderIDForKey(req.IdempotencyKey)
	}
	lines := make([]aggregate.OrderLine, len(req.Items))
	var names []string
	for i, it := range req.Items {
		p, ok := s.cfg.Catalog.Product(it.ProductID)
		if !ok {
			return Payment{}, &aggregate.ValidationError{Field: fmt.Sprintf("items[%d].productId", i),
				Message: fmt.Sprintf("unknown product %q", it.ProductID)}
		}
		lines[i] = aggregate.OrderLine{ProductID: p.ID, SellerID: p.SellerID, Quantity: it.Quantity,
			UnitPrice: p.Price, Amount: p.Price.Mul(decimal.NewFromInt(it.Quantity))}
		names = append(names, p.Name)
	}
	create := aggregate.CreateCheckout{OrderID: orderID, OrderName: orderName(names), BuyerID: req.BuyerID,
		Lines: lines, RequestHash: hash, At: s.cfg.Now().UTC(), Limits: s.cfg.Limits}
	if _, err := aggregate.Decide(aggregate.State{}, create); err != nil {
		return Payment{}, err // refused: the Idempotency-Key stays unused
	}
	if err := s.claimKey(ctx, req.IdempotencyKey, KeyClaimed{Operation: "checkout", OrderID: orderID, RequestHash: hash}, meta); err != nil {
		return Payment{}, err
	}
	u, err := s.update(ctx, orderID, &Payment{Revision: eventstore.NoStream}, meta, "", func(p Payment) ([]aggregate.Event, error) {
		if p.Exists() && p.CheckoutRequestHash == hash {
			return nil, nil // the retry of a checkout that was recorded: answer with it
		}
		return aggregate.Decide(p.State, create)
	})
	if errors.Is(err, aggregate.ErrAlreadyExists) {
		return Payment{}, ErrIdempotencyKeyReused // the key's payment was created by another request
	}
	return u.Payment, err
}

// orderIDForKey derives a Toss-valid orderId (44 chars) from a client's Idempotency-Key.
func orderIDForKey(key string) string {
	sum := sha256.Sum256([]byte("checkout\x00" + key))
	return "ord_" + hex.EncodeToString(sum[:20])
}

// newOrderID returns a fresh, time-ordered, Toss-valid orderId (36 chars).
func newOrderID() string {
	return "ord_" + strings.ReplaceAll(uuid.Must(uuid.NewV7()).String(), "-", "")
}

// orderName follows Toss's convention: the first product, then "외 N건" for the rest.
func orderName(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	default:
		return fmt.Sprintf("%s 외 %d건", names[0], len(names)-1)
	}
}

// fingerprint hashes a request's meaningful fields, to tell a retry from a different request.
func fingerprint(parts ...any) string {
	data, _ := json.Marshal(parts)
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:16])
}
