package wallet_test

import (
	"context"

	"github.com/paystream/paystream/wallet"
	"github.com/paystream/paystream/wallet/wallettest"
)

// The wallet's specs are the store conformance suite, run here over the memory store and in
// wallet/postgres over PostgreSQL.
var _ = wallettest.Describe("memory store", func(context.Context) wallet.Store { return wallet.NewMemoryStore() })
