package main

import (
	"context"
	"log/slog"
	"sync"

	"github.com/paystream/paystream/commands"
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

// startWorkers starts the webhook inbox and, when enabled and a finder of due payments
// exists, the recovery worker.
func startWorkers(log *slog.Logger, cfg Config, svc *commands.Service, inbox *commands.WebhookInbox, due commands.DueFinder) *background {
	ctx, cancel := context.WithCancel(context.Background())
	b := &background{cancel: cancel}
	b.start(ctx, log, "webhooks", inbox.Run)
	if cfg.Recovery.Enabled && due != nil {
		worker := commands.NewRecoveryWorker(svc, due, cfg.Recovery.Interval, 100, 4)
		b.start(ctx, log, "recovery", worker.Run)
	}
	return b
}
