package postgres_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/eventstore/embedded"
	"github.com/paystream/paystream/projections"
	"github.com/paystream/paystream/projections/postgres"
	"github.com/paystream/paystream/projections/readmodeltest"
)

var _ = Describe("Virtual accounts in PostgreSQL", func() {
	var (
		es    *embedded.Store
		store *postgres.Store
		log   *readmodeltest.Log
	)
	BeforeEach(func(ctx SpecContext) {
		es, log = embedded.OpenMemory(), readmodeltest.NewLog()
		DeferCleanup(es.Close)
		var err error
		store, err = postgres.Open(ctx, pool, postgres.WithSchema(freshSchema()), postgres.WithStandbyPoll(50*time.Millisecond))
		Expect(err).NotTo(HaveOccurred())
	})

	It("checks a payment left waiting without its account by migration 0003 at every scan, and a rebuild gives it the account", func(ctx SpecContext) {
		day := time.Date(2026, 1, 9, 0, 0, 0, 0, time.UTC)
		last := appendAll(ctx, es, log.Checkout("order-old", "b", "s"), log.Started("order-old", 2000), log.Awaited("order-old", 2000, day.Add(48*time.Hour)),
			log.Checkout("order-new", "b", "s"), log.Started("order-new", 2000), log.Awaited("order-new", 2000, day))
		pctx, cancel := context.WithCancel(ctx)
		defer cancel()
		p := projections.NewProjector(es, store, projections.Options{})
		run(pctx, p)
		Expect(store.WaitFor(ctx, last)).To(Succeed())
		expectNoDrift(ctx, es, store)
		// As projected before 0003 added the columns: waiting, with no account.
		_, err := pool.Exec(ctx, `UPDATE `+store.Schema()+`.payment_events SET va_account_type = '', va_bank_code = '',
			va_account_number = '', va_holder_name = '', va_due_date = NULL WHERE order_id = 'order-old'`)
		Expect(err).NotTo(HaveOccurred())
		old, err := store.Payment(ctx, "order-old")
		Expect(err).NotTo(HaveOccurred())
		Expect(old.VirtualAccount).To(BeNil())

		rep, err := projections.Verify(ctx, es, store)
		Expect(err).NotTo(HaveOccurred())
		Expect(rep.Drift).To(ConsistOf(And(HaveField("OrderID", "order-old"),
			HaveField("Diffs", ConsistOf(HavePrefix("payment.virtual_account: want \"일반\" \"20\" \"X6505636518308\" \"구매자\"")))),
		), "Verify compares the account")
		ids, next, err := store.DepositsDue(ctx, day.Add(-time.Hour), 10, "")
		Expect(err).NotTo(HaveOccurred())
		Expect(ids).To(Equal([]string{"order-old"}), "its due date is unknown to the rows: always due for a check")
		ids, next, err = store.DepositsDue(ctx, day, 1, "")
		Expect(err).NotTo(HaveOccurred())
		Expect(ids).To(Equal([]string{"order-old"}), "first")
		ids, next, err = store.DepositsDue(ctx, day, 1, next)
		Expect(err).NotTo(HaveOccurred())
		Expect(ids).To(Equal([]string{"order-new"}))
		Expect(next).To(BeEmpty())

		_, err = store.Rebuild(ctx, es, nil, nil)
		Expect(err).NotTo(HaveOccurred())
		expectNoDrift(ctx, es, store)
		old, err = store.Payment(ctx, "order-old")
		Expect(err).NotTo(HaveOccurred())
		Expect(old.VirtualAccount).To(HaveField("DueDate", day.Add(48*time.Hour)))
		Expect(store.DepositsDue(ctx, day, 10, "")).To(Equal([]string{"order-new"}))
	}, SpecTimeout(60*time.Second))
})
