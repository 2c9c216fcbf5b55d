package ledgertest

import (
	"testing"

	"github.com/paystream/paystream/booking"
	"github.com/paystream/paystream/booking/bookingtest"
	"github.com/paystream/paystream/ledger"
)

// Benchmark is bookingtest.Benchmark through a ledger.Ledger over the store open returns.
func Benchmark(b *testing.B, open func() ledger.Store, close func(ledger.Store) error) {
	bookingtest.Benchmark(b, open, func(s ledger.Store) booking.Booker { return ledger.New(s) }, close)
}
