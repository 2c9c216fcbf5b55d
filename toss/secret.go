package toss

import "log/slog"

// SecretKey is a Toss API secret key (test_sk_…, live_sk_…, test_gsk_…). It prints and logs
// as "[REDACTED]" so that it can travel through config structs and loggers safely.
type SecretKey string

const redacted = "[REDACTED]"

// String implements fmt.Stringer without revealing the key.
func (SecretKey) String() string { return redacted }

// GoString keeps %#v from revealing the key.
func (SecretKey) GoString() string { return redacted }

// LogValue implements slog.LogValuer without revealing the key.
func (SecretKey) LogValue() slog.Value { return slog.StringValue(redacted) }
