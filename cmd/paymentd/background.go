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
			WithDueDeposits(dueDeposits{rm})
		b.start(ctx, log, "recovery", worker.Run)
	}
	return b
}

// readModel is what the workers need of the read models.
type readModel interface {
	commands.DueFinder
	List(ctx context.Context, f projections.Filter) (projections.Page, error)
	DepositsDue(ctx context.Context, dueBy time.Time, limit int, cursor string) (ids []string, next string, err error)
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

// dueDeposits lists the payments waiting for a deposit due by a time from the read models,
// by their due-date column: a payment not due yet is never loaded.
type dueDeposits struct{ rm readModel }

func (d dueDeposits) DepositsDue(ctx context.Context, dueBy time.Time, cursor string) ([]string, string, error) {
	return d.rm.DepositsDue(ctx, dueBy, projections.MaxLimit, cursor)
}
