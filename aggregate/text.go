package aggregate

import (
	"unicode"
	"unicode/utf8"
)

// Bounds on the free text a payment records. Text is stored in every read model and shown
// to operators and auditors, so it must be storable faithfully everywhere (PostgreSQL
// refuses NUL and invalid UTF-8) and render as what it is (no control characters).
const (
	MaxIDLength     = 100  // buyerId, productId, sellerId: identifiers of the shop's own systems
	MaxActorLength  = 100  // who resolved or cancelled
	MaxReasonLength = 1000 // why; Toss allows 200 characters of cancelReason
)

// CheckText is nil when s is valid UTF-8 of at most max characters without control
// characters (C0, DEL, C1: NUL, newlines and escapes included), and otherwise a
// *ValidationError naming field.
func CheckText(field, s string, max int) error {
	if !utf8.ValidString(s) {
		return invalid(field, "must be valid UTF-8")
	}
	if n := utf8.RuneCountInString(s); n > max {
		return invalid(field, "must be at most %d characters, not %d", max, n)
	}
	for i, r := range s {
		if unicode.IsControl(r) {
			return invalid(field, "must not contain control characters (found %U at byte %d)", r, i)
		}
	}
	return nil
}

// CheckRequiredText is CheckText for text that must not be empty or blank.
func CheckRequiredText(field, s string, max int) error {
	for _, r := range s {
		if !unicode.IsSpace(r) {
			return CheckText(field, s, max)
		}
	}
	return invalid(field, "is required")
}

// CheckOrderID is nil for an orderId Toss accepts, and otherwise a *ValidationError.
func CheckOrderID(field, id string) error {
	if !ValidOrderID(id) {
		return invalid(field, "must be 6-64 characters of A-Z, a-z, 0-9, '-' or '_'")
	}
	return nil
}

// CheckPaymentKey is nil for a key shaped like a Toss paymentKey, and otherwise a
// *ValidationError.
func CheckPaymentKey(field, key string) error {
	if !ValidPaymentKey(key) {
		return invalid(field, "must be 1-200 printable ASCII characters without spaces")
	}
	return nil
}

// firstInvalid returns the first non-nil error: a command is refused naming one field.
func firstInvalid(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
