package ledger_test

import (
	"context"

	"github.com/paystream/paystream/ledger"
	"github.com/paystream/paystream/ledger/ledgertest"
)

// The ledger's specs are the store conformance suite, run here over the memory store and in
// ledger/postgres over PostgreSQL.
var _ = ledgertest.Describe("memory store", func(context.Context) ledger.Store { return ledger.NewMemoryStore() })
