package wallet_test

import (
	"testing"

	"github.com/paystream/paystream/wallet"
	"github.com/paystream/paystream/wallet/wallettest"
)

// go test ./wallet -run '^$' -bench . -benchtime 40000x
func BenchmarkMemoryStore(b *testing.B) {
	wallettest.Benchmark(b, func() wallet.Store { return wallet.NewMemoryStore() }, func(wallet.Store) error { return nil })
}
