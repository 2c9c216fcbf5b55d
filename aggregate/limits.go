package aggregate

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// Limits bound what one checkout may ask for, so that a typo or a hostile request (a
// quantity of 2^63−1) never becomes a payment. The zero value of a field means its default;
// the zero Limits is DefaultLimits.
//
// Toss publishes minimums (100 KRW by card, 200 KRW by account transfer) and leaves the
// maximum of one payment to each merchant's contract (EXCEED_MAX_AMOUNT), so the total's cap
// is the merchant's to configure; the minimum is Toss's and is not.
type Limits struct {
	MaxLineQuantity int64           // units of one product on one line
	MaxLines        int             // order lines in one checkout
	MaxTotal        decimal.Decimal // the checkout total, KRW
}

// Defaults a Korean web shop accepts: a quantity field of three digits, a cart of at most
// 100 lines, and 10,000,000 KRW (천만원) per payment — above a premium laptop or TV, below
// what a card-not-present payment at a new merchant is usually allowed.
const (
	DefaultMaxLineQuantity = 999
	DefaultMaxLines        = 100
	DefaultMaxTotal        = 10_000_000
)

// Ceilings no configuration may exceed. Amounts and quantities travel as JSON numbers (to
// Toss, in events, to browsers): above 2^53−1 a JavaScript or float64 reader silently
// rounds them. Every line is kept in the CheckoutCreated event, and 1,000 lines keep it
// far below EventStoreDB's default 1 MiB append limit.
const (
	CeilingMaxLineQuantity = 1<<53 - 1
	CeilingMaxLines        = 1000
	CeilingMaxTotal        = 1<<53 - 1
)

// MinTotal is the smallest total Toss charges by any method (BELOW_MINIMUM_AMOUNT below 100
// KRW by card): a smaller checkout could never be paid.
const MinTotal = 100

// DefaultLimits returns the limits used where none are configured.
func DefaultLimits() Limits {
	return Limits{MaxLineQuantity: DefaultMaxLineQuantity, MaxLines: DefaultMaxLines,
		MaxTotal: decimal.NewFromInt(DefaultMaxTotal)}
}

// WithDefaults returns l with every zero field set to its default.
func (l Limits) WithDefaults() Limits {
	d := DefaultLimits()
	if l.MaxLineQuantity == 0 {
		l.MaxLineQuantity = d.MaxLineQuantity
	}
	if l.MaxLines == 0 {
		l.MaxLines = d.MaxLines
	}
	if l.MaxTotal.IsZero() {
		l.MaxTotal = d.MaxTotal
	}
	return l
}

// Validate reports the first field of l (zero fields taking their defaults) outside its
// range, as a *ValidationError naming the field: maxLineQuantity, maxLines or maxTotal.
func (l Limits) Validate() error {
	l = l.WithDefaults()
	switch {
	case l.MaxLineQuantity < 1 || l.MaxLineQuantity > CeilingMaxLineQuantity:
		return invalid("maxLineQuantity", "must be between 1 and %d", int64(CeilingMaxLineQuantity))
	case l.MaxLines < 1 || l.MaxLines > CeilingMaxLines:
		return invalid("maxLines", "must be between 1 and %d", CeilingMaxLines)
	case !l.MaxTotal.Equal(l.MaxTotal.Truncate(0)) || l.MaxTotal.LessThan(decimal.NewFromInt(MinTotal)) ||
		l.MaxTotal.GreaterThan(decimal.NewFromInt(CeilingMaxTotal)):
		return invalid("maxTotal", "must be a whole number of KRW between %d and %d", MinTotal, int64(CeilingMaxTotal))
	}
	return nil
}

// CheckQuantities reports, as a *ValidationError naming the field ("items",
// "items[N].quantity"), the first of quantities — one per requested line, in order — that
// l does not allow. Callers that do work per line (pricing each from a catalog) check
// before doing it; decideCheckout checks again, so the rule has one home.
func (l Limits) CheckQuantities(quantities []int64) error {
	l = l.WithDefaults()
	switch {
	case len(quantities) == 0:
		return invalid("items", "at least one item is required")
	case len(quantities) > l.MaxLines:
		return invalid("items", "at most %d items per checkout, not %d", l.MaxLines, len(quantities))
	}
	for i, q := range quantities {
		switch {
		case q < 1:
			return invalid(fmt.Sprintf("items[%d].quantity", i), "must be a positive whole number")
		case q > l.MaxLineQuantity:
			return invalid(fmt.Sprintf("items[%d].quantity", i), "must be at most %d, not %d", l.MaxLineQuantity, q)
		}
	}
	return nil
}

// checkTotal reports a checkout total outside [MinTotal, l.MaxTotal], naming "items": the
// total is not a field of the request but what its items add up to.
func (l Limits) checkTotal(total decimal.Decimal) error {
	l = l.WithDefaults()
	switch {
	case total.LessThan(decimal.NewFromInt(MinTotal)):
		return invalid("items", "the checkout total %s KRW is below Toss's minimum of %d KRW", total, MinTotal)
	case total.GreaterThan(l.MaxTotal):
		return invalid("items", "the checkout total %s KRW exceeds the maximum of %s KRW per payment", total, l.MaxTotal)
	}
	return nil
}
