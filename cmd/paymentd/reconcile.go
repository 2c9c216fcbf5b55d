package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/projections"
	"github.com/paystream/paystream/reconcile"
	"github.com/paystream/paystream/toss"
)

// newReconciler wires the reconciler: Toss's reconciliation APIs through the same client as
// the payments, the service's commands for fixes and records, the event store for its
// streams, the read models for which payments a period holds, the ledger for Toss's
// settlements (nil: not booked).
func newReconciler(log *slog.Logger, client *toss.Client, svc *commands.Service, store reconcile.Streams, rm projections.ReadModel,
	settle reconcile.Books) *reconcile.Reconciler {
	return reconcile.New(reconcile.Config{Toss: client, Payments: svc, Streams: store, Directory: createdPayments{rm}, Books: settle,
		Logger: log})
}

// createdPayments lists the payments created in a time range from the read models
// (reconcile.Directory).
type createdPayments struct{ rm projections.ReadModel }

func (c createdPayments) Created(ctx context.Context, from, to time.Time, cursor string) ([]string, string, error) {
	page, err := c.rm.List(ctx, projections.Filter{CreatedFrom: from, CreatedTo: to, Limit: projections.MaxLimit, Cursor: cursor})
	if err != nil {
		return nil, "", err
	}
	ids := make([]string, len(page.Items))
	for i, p := range page.Items {
		ids[i] = p.OrderID
	}
	return ids, page.NextCursor, nil
}

// reconcileSchedule reconciles the previous KST day (Toss's settlements of a day are
// complete the next) every interval, from the first tick; re-runs of a day record nothing
// new. stop ends it and waits for a run in progress to finish recording.
func reconcileSchedule(log *slog.Logger, rec *reconcile.Reconciler, interval time.Duration, now func() time.Time) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			day := reconcile.Day(now().AddDate(0, 0, -1))
			rep, err := rec.Run(ctx, day, "schedule", nil)
			if err != nil {
				if ctx.Err() == nil {
					log.Error("scheduled reconciliation failed", "period", day.ID(), "err", err)
				}
				continue
			}
			if n := rep.NeedsAttention(); n > 0 {
				log.Warn("OPERATOR ALERT: reconciliation left mismatches open", "period", day.ID(), "run", rep.Run,
					"open", n, "alert", true)
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}
