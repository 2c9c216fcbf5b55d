package postgres_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/postgres/pgtest"
)

func TestPostgres(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "PostgreSQL wallet Suite")
}

var (
	// databaseURL is this suite's database (one per test process).
	databaseURL string
	// pool is a connection pool to it.
	pool *pgxpool.Pool
)

var _ = BeforeSuite(func(ctx SpecContext) {
	cluster, err := pgtest.Shared(ctx, os.Getenv("DATABASE_URL"))
	Expect(err).NotTo(HaveOccurred(), "PostgreSQL is required: install postgresql-15 or set DATABASE_URL")
	databaseURL, err = cluster.NewDatabase(ctx)
	Expect(err).NotTo(HaveOccurred())
	pool, err = pgxpool.New(ctx, databaseURL)
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func(ctx SpecContext) {
	if pool != nil {
		pool.Close()
	}
	Expect(pgtest.StopShared(ctx)).To(Succeed())
})

// freshSchema names a schema no other spec uses.
func freshSchema() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return "wallet_" + hex.EncodeToString(b[:])
}

func must[T any](v T, err error) T {
	GinkgoHelper()
	Expect(err).NotTo(HaveOccurred())
	return v
}
