package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/embedded"
	"github.com/paystream/paystream/postgres/pgtest"
	"github.com/paystream/paystream/projections"
	"github.com/paystream/paystream/projections/postgres"
	"github.com/paystream/paystream/projections/readmodeltest"
)

// appendAll writes events built by a readmodeltest.Log into the store.
// It returns the store position of the last one.
func appendAll(ctx context.Context, es *embedded.Store, events ...eventstore.RecordedEvent) eventstore.Position {
	GinkgoHelper()
	var last eventstore.Position
	for _, e := range events {
		res, err := es.Append(ctx, e.Stream, e.Revision-1, []eventstore.Event{{ID: e.ID, Type: e.Type, Data: e.Data, Metadata: e.Metadata}})
		Expect(err).NotTo(HaveOccurred())
		last = res.Position
	}
	return last
}

// payments appends n approved payments and returns the store position of the last event.
func payments(ctx context.Context, es *embedded.Store, log *readmodeltest.Log, from, n int) eventstore.Position {
	GinkgoHelper()
	var last eventstore.Position
	for i := from; i < from+n; i++ {
		id := fmt.Sprintf("order-%05d", i)
		last = appendAll(ctx, es, log.Checkout(id, "buyer-1", "seller-a", "seller-b"), log.Started(id, 6000), log.Approved(id, 6000))
	}
	return last
}

func run(ctx context.Context, p *projections.Projector) {
	go func() { _ = p.Run(ctx) }()
}

func expectNoDrift(ctx context.Context, es *embedded.Store, s *postgres.Store) projections.Report {
	GinkgoHelper()
	rep, err := projections.Verify(ctx, es, s)
	Expect(err).NotTo(HaveOccurred())
	Expect(rep.Drift).To(BeEmpty())
	return rep
}

var _ = Describe("Projector into PostgreSQL", func() {
	var (
		es    *embedded.Store
		store *postgres.Store
		log   *readmodeltest.Log
	)
	BeforeEach(func(ctx SpecContext) {
		es, log = embedded.OpenMemory(), readmodeltest.NewLog()
		DeferCleanup(es.Close)
		var err error
		store, err = postgres.Open(ctx, pool, postgres.WithSchema(freshSchema()), postgres.WithStandbyPoll(50_000_000))
		Expect(err).NotTo(HaveOccurred())
	})

	Context("with one projector", func() {
		It("projects every stream, verifies clean, and a rebuild gives identical rows", func(ctx SpecContext) {
			payments(ctx, es, log, 0, 300)
			refunds := []eventstore.RecordedEvent{
				log.RefundRequested("order-00001", "r1", 1500, readmodeltest.Split(2, 1500)), log.RefundApproved("order-00001", "r1"),
				log.RefundBooked("order-00001", "r1", "ledger"),
				log.ExternalRefund("order-00002", "x1", 3000),
				log.RefundRequested("order-00003", "r1", 1000, readmodeltest.Split(1, 1000)), log.RefundUnknown("order-00003", "r1"),
			}
			appendAll(ctx, es, refunds...)
			pctx, cancel := context.WithCancel(ctx)
			defer cancel()
			p := projections.NewProjector(es, store, projections.Options{})
			run(pctx, p)
			Eventually(func() int { return int(p.Status().Applied) }).WithContext(ctx).Should(Equal(900 + len(refunds)))
			rep := expectNoDrift(ctx, es, store)
			Expect(rep.Payments).To(Equal(300))
			before := snapshot(ctx, store)

			payments(ctx, es, log, 300, 50) // written while the rebuild runs
			at, err := store.Rebuild(ctx, es, nil, nil)
			Expect(err).NotTo(HaveOccurred())
			Expect(at).To(BeNumerically(">=", before.checkpoint))
			Eventually(func() int { return int(mustCheckpoint(ctx, store)) }).WithContext(ctx).Should(BeNumerically(">=", 350*3))
			rep = expectNoDrift(ctx, es, store)
			Expect(rep.Payments).To(Equal(350))
			after := snapshot(ctx, store)
			for id, row := range before.rows {
				Expect(after.rows[id]).To(Equal(row), id)
			}
			for _, id := range []string{"order-00001", "order-00002", "order-00003"} {
				p, err := store.Payment(ctx, id)
				Expect(err).NotTo(HaveOccurred())
				Expect(p.Refunds).To(HaveLen(1), "%s keeps its refund through the rebuild", id)
			}
		}, SpecTimeout(90*time.Second))

		It("records an unknown event type as a dead letter, turns red, and stops there", func(ctx SpecContext) {
			payments(ctx, es, log, 0, 2)
			poison := log.Raw("order-00001", "payment.from-the-future.v9", []byte(`{"x":1}`))
			appendAll(ctx, es, poison)
			payments(ctx, es, log, 2, 2)
			pctx, cancel := context.WithCancel(ctx)
			defer cancel()
			p := projections.NewProjector(es, store, projections.Options{Logger: slog.New(slog.DiscardHandler)})
			run(pctx, p)
			Eventually(p.Poisoned()).WithContext(ctx).Should(BeClosed())
			Expect(p.Health()).To(MatchError(ContainSubstring("payment.from-the-future.v9")))
			Expect(p.Status().Poisoned).To(BeTrue())
			dead, err := store.DeadLetters(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(dead).To(HaveLen(1))
			Expect(dead[0].Stream).To(Equal(poison.Stream))
			Expect(dead[0].Revision).To(Equal(poison.Revision))
			Expect(mustCheckpoint(ctx, store)).To(BeNumerically("<", dead[0].Position))
			Expect(mustCheckpoint(ctx, store)).To(BeNumerically(">", 0))
			_, err = store.Payment(ctx, "order-00002")
			Expect(err).To(MatchError(projections.ErrNotFound), "nothing after the poison event was applied")
		}, SpecTimeout(90*time.Second))
	})

	Context("when PostgreSQL refuses an event's text (a NUL recorded before the API refused it)", func() {
		It("retries boundedly, parks the event as a dead letter with an alert, turns red, and stops there", func(ctx SpecContext) {
			last := payments(ctx, es, log, 0, 3) // a batch with good events before the bad one
			bad := log.Checkout("order-nul01", "buyer\x00nul", "seller-a")
			appendAll(ctx, es, bad)
			payments(ctx, es, log, 3, 2)
			pctx, cancel := context.WithCancel(ctx)
			defer cancel()
			p := projections.NewProjector(es, store, projections.Options{Logger: slog.New(slog.DiscardHandler),
				RetryMin: time.Millisecond, RetryMax: 10 * time.Millisecond})
			run(pctx, p)
			Eventually(p.Poisoned()).WithContext(ctx).Should(BeClosed())
			Expect(p.Health()).To(MatchError(ContainSubstring("order-nul01")))
			dead, err := store.DeadLetters(ctx)
			Expect(err).NotTo(HaveOccurred())
			Expect(dead).To(HaveLen(1))
			Expect(dead[0].Stream).To(Equal(bad.Stream))
			Expect(dead[0].Data).To(Equal(bad.Data), "the dead letter keeps the event as recorded")
			Expect(dead[0].Error).To(ContainSubstring("0x00"))
			Expect(mustCheckpoint(ctx, store)).To(Equal(last), "every event before it was applied, one at a time if need be")
			_, err = store.Payment(ctx, "order-00002")
			Expect(err).NotTo(HaveOccurred())
			_, err = store.Payment(ctx, "order-00003")
			Expect(err).To(MatchError(projections.ErrNotFound), "nothing after the refused event was applied")
		}, SpecTimeout(90*time.Second))
	})

	Context("with two projectors on one database", func() {
		It("lets one project while the other stands by, and never applies an event twice", func(ctx SpecContext) {
			pctx1, cancel1 := context.WithCancel(ctx)
			defer cancel1()
			pctx2, cancel2 := context.WithCancel(ctx)
			defer cancel2()
			p1 := projections.NewProjector(es, store, projections.Options{MaxBatch: 7})
			p2 := projections.NewProjector(es, store, projections.Options{MaxBatch: 7})
			run(pctx1, p1)
			run(pctx2, p2)
			last := payments(ctx, es, log, 0, 100)
			Eventually(func() eventstore.Position { return mustCheckpoint(ctx, store) }).WithContext(ctx).Should(Equal(last))
			Expect(p1.Status().Active != p2.Status().Active).To(BeTrue(), "exactly one is active")
			cancelActive, standby := cancel1, p2
			if p2.Status().Active {
				cancelActive, standby = cancel2, p1
			}
			cancelActive() // its process ends: the lease's connection closes
			Eventually(func() bool { return standby.Status().Active }).WithContext(ctx).Should(BeTrue())
			last = payments(ctx, es, log, 100, 50)
			Eventually(func() eventstore.Position { return mustCheckpoint(ctx, store) }).WithContext(ctx).Should(Equal(last))
			rep := expectNoDrift(ctx, es, store)
			Expect(rep.Payments).To(Equal(150))
		}, SpecTimeout(90*time.Second))

		It("never double-applies when both commit at once, whatever the lease says", func(ctx SpecContext) {
			payments(ctx, es, log, 0, 20)
			var all []eventstore.RecordedEvent
			Expect(readAll(ctx, es, &all)).To(Succeed())
			errs := make(chan error, 2)
			for range 2 {
				go func() {
					_, err := store.Commit(ctx, 0, all)
					errs <- err
				}()
			}
			e1, e2 := <-errs, <-errs
			Expect([]error{e1, e2}).To(ContainElement(BeNil()))
			Expect([]error{e1, e2}).To(ContainElement(MatchError(projections.ErrCheckpointMoved)))
			expectNoDrift(ctx, es, store)
		}, SpecTimeout(90*time.Second))
	})

	Context("when PostgreSQL is killed mid-projection", func() {
		It("resumes after the restart and the verifier finds no drift", func(ctx SpecContext) {
			cluster, err := pgtest.Start(ctx, pgtest.Options{})
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(cluster.Stop)
			own, err := pgxpool.New(ctx, cluster.URL())
			Expect(err).NotTo(HaveOccurred())
			defer own.Close()
			s, err := postgres.Open(ctx, own, postgres.WithStandbyPoll(50_000_000))
			Expect(err).NotTo(HaveOccurred())
			pctx, cancel := context.WithCancel(ctx)
			defer cancel()
			p := projections.NewProjector(es, s, projections.Options{MaxBatch: 20, RetryMax: 200_000_000})
			run(pctx, p)
			writes := make(chan eventstore.Position, 1)
			go func() {
				defer GinkgoRecover()
				writes <- payments(ctx, es, log, 0, 400)
			}()
			Eventually(func() eventstore.Position { return p.Status().Checkpoint }).WithContext(ctx).Should(BeNumerically(">", 0))
			Expect(cluster.StopImmediate(ctx)).To(Succeed())
			Eventually(p.Health).WithContext(ctx).Should(HaveOccurred())
			Expect(cluster.Restart(ctx)).To(Succeed())
			var last eventstore.Position
			Eventually(writes).WithContext(ctx).Should(Receive(&last))
			Eventually(func() eventstore.Position { cp, _ := s.Checkpoint(ctx); return cp }).WithContext(ctx).Should(Equal(last))
			rep, err := projections.Verify(ctx, es, s)
			Expect(err).NotTo(HaveOccurred())
			Expect(rep.Drift).To(BeEmpty())
			Expect(rep.Payments).To(Equal(400))
		}, SpecTimeout(90*time.Second))
	})
})

func mustCheckpoint(ctx context.Context, s *postgres.Store) eventstore.Position {
	GinkgoHelper()
	cp, err := s.Checkpoint(ctx)
	Expect(err).NotTo(HaveOccurred())
	return cp
}

type rowsSnapshot struct {
	checkpoint eventstore.Position
	rows       map[string]any
}

func snapshot(ctx context.Context, s *postgres.Store) rowsSnapshot {
	GinkgoHelper()
	snap := rowsSnapshot{checkpoint: mustCheckpoint(ctx, s), rows: map[string]any{}}
	f := projections.Filter{Limit: projections.MaxLimit}
	for {
		page, err := s.List(ctx, f)
		Expect(err).NotTo(HaveOccurred())
		for _, p := range page.Items {
			h, err := s.History(ctx, p.OrderID)
			Expect(err).NotTo(HaveOccurred())
			snap.rows[p.OrderID] = []any{p, h}
		}
		if page.NextCursor == "" {
			return snap
		}
		f.Cursor = page.NextCursor
	}
}

func readAll(ctx context.Context, es *embedded.Store, into *[]eventstore.RecordedEvent) error {
	streams := map[string]bool{}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var n int
	err := es.Follow(fctx, 0, "payment-", func(ctx context.Context, e eventstore.RecordedEvent) error {
		*into = append(*into, e)
		streams[e.Stream] = true
		n++
		if n == 60 {
			cancel()
		}
		return nil
	})
	if err == context.Canceled {
		return nil
	}
	return err
}
