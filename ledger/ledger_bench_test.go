package ledger_test

import (
	"testing"

	"github.com/paystream/paystream/ledger"
	"github.com/paystream/paystream/ledger/ledgertest"
)

// go test ./ledger -run '^$' -bench . -benchtime 40000x
func BenchmarkMemoryStore(b *testing.B) {
	ledgertest.Benchmark(b, func() ledger.Store { return ledger.NewMemoryStore() }, func(ledger.Store) error { return nil })
}
