package postgres_test

import (
	"context"
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
// throughput (events/s from the event store into the read model tables, from an empty read
// model, so every batch is a full one as when catching up after a burst). Run it once:
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

	// A realistic mix: every payment's whole life (checkout, execution, approval, ledger,
	// wallet, completion), with 64 payments in flight as under paymentload -c 64, so a
	// payment's events are spread over the log and often over several batches.
	es := embedded.OpenMemory()
	defer es.Close()
	const payments = 10_000
	events := readmodeltest.NewLog().Interleaved(payments, 64, 1)
	var last eventstore.Position
	for _, e := range events {
		res, err := es.Append(ctx, e.Stream, e.Revision-1, []eventstore.Event{{ID: e.ID, Type: e.Type, Data: e.Data, Metadata: e.Metadata}})
		if err != nil {
			b.Fatal(err)
		}
		last = res.Position
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
	eventsPerSec := float64(len(events)) / elapsed.Seconds()
	b.ReportMetric(commitRate, "single-row-commits/s")
	b.ReportMetric(eventsPerSec, "projected-events/s")
	b.ReportMetric(eventsPerSec/commitRate, "x-single-row")
	b.Logf("single-row durable commits: %.0f/s; projection: %d events in %v = %.0f events/s (%.1f× the single-row rate)",
		commitRate, len(events), elapsed.Round(time.Millisecond), eventsPerSec, eventsPerSec/commitRate)
}
