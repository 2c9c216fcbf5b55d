package postgres_test

import (
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/postgres/pgtest"
)

func TestPostgres(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "PostgreSQL ledger Suite")
}

var (
	// databaseURL is this suite's database (one per test process).
	databaseURL string
	// pool is a connection pool to it.
	pool *pgxpool.Pool
)

var _ = BeforeSuite(func(ctx SpecContext) {
	var err error
	databaseURL, pool, err = pgtest.Database(ctx, os.Getenv("DATABASE_URL"))
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func(ctx SpecContext) {
	if pool != nil {
		pool.Close()
	}
	Expect(pgtest.StopShared(ctx)).To(Succeed())
})

// freshSchema names a schema no other spec uses.
func freshSchema() string { return pgtest.Schema("ledger") }

func must[T any](v T, err error) T {
	GinkgoHelper()
	Expect(err).NotTo(HaveOccurred())
	return v
}
