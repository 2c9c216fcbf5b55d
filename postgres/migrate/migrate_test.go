package migrate_test

import (
	"os"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/postgres/migrate"
	"github.com/paystream/paystream/postgres/pgtest"
)

var _ = Describe("Apply", func() {
	var pool *pgxpool.Pool
	BeforeEach(func(ctx SpecContext) {
		var err error
		_, pool, err = pgtest.Database(ctx, os.Getenv("DATABASE_URL"))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(pool.Close)
	})
	files := fstest.MapFS{
		"m/0001_items.sql": {Data: []byte(`CREATE TABLE __S__.items (n integer PRIMARY KEY)`)},
		"m/0002_seed.sql":  {Data: []byte(`INSERT INTO __S__.items VALUES (1), (2)`)},
	}

	It("applies pending migrations in order, once, into the named schema", func(ctx SpecContext) {
		Expect(migrate.Apply(ctx, pool, files, "m", "shop_a")).To(Succeed())
		Expect(migrate.Apply(ctx, pool, files, "m", "shop_a")).To(Succeed(), "a second run has nothing to do")
		var n int
		Expect(pool.QueryRow(ctx, "SELECT count(*) FROM shop_a.items").Scan(&n)).To(Succeed())
		Expect(n).To(Equal(2), "the seed ran once")
		Expect(pool.QueryRow(ctx, "SELECT max(version) FROM shop_a.schema_migrations").Scan(&n)).To(Succeed())
		Expect(n).To(Equal(2))
	})

	It("refuses a schema name it cannot splice into SQL, before sending anything", func(ctx SpecContext) {
		Expect(migrate.Apply(ctx, nil, files, "m", "shop; DROP TABLE x")).To(MatchError(migrate.ErrBadSchema))
		Expect(migrate.Apply(ctx, nil, files, "m", "Shop")).To(MatchError(migrate.ErrBadSchema))
	})

	It("applies nothing of a failing migration", func(ctx SpecContext) {
		broken := fstest.MapFS{
			"m/0001_items.sql": files["m/0001_items.sql"],
			"m/0002_bad.sql":   {Data: []byte(`INSERT INTO __S__.nowhere VALUES (1)`)},
		}
		Expect(migrate.Apply(ctx, pool, broken, "m", "shop_b")).To(MatchError(ContainSubstring("0002_bad.sql")))
		var exists bool
		Expect(pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'shop_b')").Scan(&exists)).To(Succeed())
		Expect(exists).To(BeFalse(), "all pending migrations run in one transaction")
	})
})

var _ = AfterSuite(func(ctx SpecContext) { Expect(pgtest.StopShared(ctx)).To(Succeed()) })
