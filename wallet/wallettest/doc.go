// Package wallettest is the conformance suite for wallet.Store adapters: one set of Ginkgo
// specs that the memory, Pebble and PostgreSQL stores run unchanged, through wallet.Wallet
// and the Store directly; and Benchmark, the heap and time a store takes per payment.
//
// Register it from an adapter's Ginkgo suite with a factory that opens a fresh, empty store
// (each spec calls it once, in BeforeEach):
//
//	var _ = wallettest.Describe("memory store", func(context.Context) wallet.Store {
//		return wallet.NewMemoryStore()
//	})
package wallettest
