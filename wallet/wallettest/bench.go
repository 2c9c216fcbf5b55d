package wallettest

import (
	"testing"

	"github.com/paystream/paystream/booking"
	"github.com/paystream/paystream/booking/bookingtest"
	"github.com/paystream/paystream/wallet"
)

// Benchmark is bookingtest.Benchmark through a wallet.Wallet over the store open returns.
func Benchmark(b *testing.B, open func() wallet.Store, close func(wallet.Store) error) {
	bookingtest.Benchmark(b, open, func(s wallet.Store) booking.Booker { return wallet.New(s) }, close)
}
