// Package ledgertest is the conformance suite for ledger.Store adapters: one set of Ginkgo
// specs that the memory, Pebble and PostgreSQL stores run unchanged, through ledger.Ledger
// and the Store directly; and Benchmark, the heap and time a store takes per payment.
//
// Register it from an adapter's Ginkgo suite with a factory that opens a fresh, empty store
// (each spec calls it once, in BeforeEach):
//
//	var _ = ledgertest.Describe("memory store", func(context.Context) ledger.Store {
//		return ledger.NewMemoryStore()
//	})
//
// Invariants of the suite: specs only wait with Eventually or on goroutines they start,
// and every amount is compared as a decimal, never as a float.
package ledgertest
