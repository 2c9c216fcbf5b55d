package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/embedded"
	"github.com/paystream/paystream/postgres/pgtest"
	"github.com/paystream/paystream/projections"
	"github.com/paystream/paystream/projections/postgres"
	"github.com/paystream/paystream/projections/readmodeltest"
)

// BenchmarkProjectionThroughput measures, against one throwaway PostgreSQL with fsync on,
// the single-row durable commit rate (one INSERT per transaction) and the projection's
// throughput (events/s from the event store into the read model tables). Run it once:
//
//	go test -run '^$' -bench ProjectionThroughput -benchtime 1x ./projections/postgres/
func BenchmarkProjectionThroughput(b *testing.B) {
	ctx := context.Background()
	cluster, err := pgtest.Start(ctx, pgtest.Options{Fsync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Stop(ctx)
	pool, err := pgxpool.New(ctx, cluster.URL())
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()

	const commits = 1000
	if _, err := pool.Exec(ctx, "CREATE TABLE single_row (id bigint PRIMARY KEY, at timestamptz NOT NULL)"); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for i := range commits {
		if _, err := pool.Exec(ctx, "INSERT INTO single_row VALUES ($1, now())", i); err != nil {
			b.Fatal(err)
		}
	}
	commitRate := commits / time.Since(start).Seconds()

	es := embedded.OpenMemory()
	defer es.Close()
	log := readmodeltest.NewLog()
	const payments = 10_000
	var last eventstore.Position
	for i := range payments {
		id := fmt.Sprintf("order-%06d", i)
		for _, e := range []eventstore.RecordedEvent{log.Checkout(id, "buyer-1", "seller-a", "seller-b"), log.Started(id, 6000), log.Approved(id, 6000)} {
			res, err := es.Append(ctx, e.Stream, e.Revision-1, []eventstore.Event{{ID: e.ID, Type: e.Type, Data: e.Data, Metadata: e.Metadata}})
			if err != nil {
				b.Fatal(err)
			}
			last = res.Position
		}
	}
	store, err := postgres.Open(ctx, pool)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start = time.Now()
	pctx, cancel := context.WithCancel(ctx)
	p := projections.NewProjector(es, store, projections.Options{})
	go func() { _ = p.Run(pctx) }()
	if err := store.WaitFor(ctx, last); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	cancel()
	b.StopTimer()
	eventsPerSec := float64(payments*3) / elapsed.Seconds()
	b.ReportMetric(commitRate, "single-row-commits/s")
	b.ReportMetric(eventsPerSec, "projected-events/s")
	b.ReportMetric(eventsPerSec/commitRate, "x-single-row")
	b.Logf("single-row durable commits: %.0f/s; projection: %d events in %v = %.0f events/s (%.1f× the single-row rate)",
		commitRate, payments*3, elapsed.Round(time.Millisecond), eventsPerSec, eventsPerSec/commitRate)
}
