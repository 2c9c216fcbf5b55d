package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/projections"
)

// background runs paymentd's workers (webhook inbox, recovery) until stop is called; stop
// waits for them to finish their current payment.
type background struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func (b *background) start(ctx context.Context, log *slog.Logger, name string, run func(context.Context) error) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		if err := run(ctx); err != nil && ctx.Err() == nil {
			log.Error("background worker stopped", "worker", name, "err", err)
		}
	}()
}

func (b *background) stop() {
	b.cancel()
	b.wg.Wait()
}

// startWorkers starts the webhook inbox and, when enabled, the recovery worker over the
// read models (which also expires stale checkouts).
func startWorkers(log *slog.Logger, cfg Config, svc *commands.Service, inbox *commands.WebhookInbox, rm readModel) *background {
	ctx, cancel := context.WithCancel(context.Background())
	b := &background{cancel: cancel}
	b.start(ctx, log, "webhooks", inbox.Run)
	if cfg.Recovery.Enabled && rm != nil {
		worker := commands.NewRecoveryWorker(svc, rm, cfg.Recovery.Interval, 100, 4).WithExpiry(staleCheckouts{rm}).
			WithDeposits(waitingDeposits{rm})
		b.start(ctx, log, "recovery", worker.Run)
	}
	return b
}

// readModel is what the workers need of the read models.
type readModel interface {
	commands.DueFinder
	List(ctx context.Context, f projections.Filter) (projections.Page, error)
}

// staleCheckouts lists NOT_STARTED checkouts from the read models for expiry.
type staleCheckouts struct{ rm readModel }

func (s staleCheckouts) StaleCheckouts(ctx context.Context, createdBefore time.Time, cursor string) ([]string, string, error) {
	page, err := s.rm.List(ctx, projections.Filter{Status: aggregate.StatusNotStarted, CreatedTo: createdBefore,
		Limit: projections.MaxLimit, Cursor: cursor})
	if err != nil {
		return nil, "", err
	}
	ids := make([]string, len(page.Items))
	for i, p := range page.Items {
		ids[i] = p.OrderID
	}
	return ids, page.NextCursor, nil
}

// waitingDeposits lists payments WAITING_FOR_DEPOSIT from the read models; the worker learns
// each one's due date from its stream (the rows do not carry it).
type waitingDeposits struct{ rm readModel }

func (w waitingDeposits) WaitingDeposits(ctx context.Context, cursor string) ([]string, string, error) {
	page, err := w.rm.List(ctx, projections.Filter{Status: aggregate.StatusWaitingForDeposit, Limit: projections.MaxLimit, Cursor: cursor})
	if err != nil {
		return nil, "", err
	}
	ids := make([]string, len(page.Items))
	for i, p := range page.Items {
		ids[i] = p.OrderID
	}
	return ids, page.NextCursor, nil
}
