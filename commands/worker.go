package commands

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/paystream/paystream/aggregate"
)

// DueFinder lists payments recovery should look at: those open for recovery
// (aggregate.State.Open) given executingBefore, oldest first; Recover then checks each is
// due. The read models implement it.
type DueFinder interface {
	OpenForRecovery(ctx context.Context, executingBefore time.Time, limit int) ([]string, error)
}

// StaleCheckouts lists checkouts still NOT_STARTED that were created before createdBefore,
// oldest first, a page at a time (cursor "" starts; a returned "" cursor ends).
type StaleCheckouts interface {
	StaleCheckouts(ctx context.Context, createdBefore time.Time, cursor string) (ids []string, next string, err error)
}

// RecoveryWorker periodically runs Service.Recover over the payments a DueFinder lists.
// Several workers (in several paymentd instances) may run: the claim append decides who
// works a payment.
type RecoveryWorker struct {
	svc      *Service
	due      DueFinder
	interval time.Duration
	batch    int
	workers  int
	log      *slog.Logger
	stale    StaleCheckouts
	deposits DueDeposits
}

// WithExpiry makes each scan also expire checkouts never confirmed within the checkout TTL.
func (w *RecoveryWorker) WithExpiry(stale StaleCheckouts) *RecoveryWorker {
	w.stale = stale
	return w
}

// maxExpiryPages bounds one scan's walk over stale checkouts.
const maxExpiryPages = 10

// expire records CheckoutExpired for stale checkouts; ones that were sent to the PSP (and so
// are NOT_STARTED only after an aborted execution) are left alone.
func (w *RecoveryWorker) expire(ctx context.Context) int {
	if w.stale == nil {
		return 0
	}
	expired, cursor := 0, ""
	for range maxExpiryPages {
		ids, next, err := w.stale.StaleCheckouts(ctx, w.svc.cfg.Now().UTC().Add(-w.svc.cfg.CheckoutTTL), cursor)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Error("listing stale checkouts", "err", err)
			}
			return expired
		}
		for _, id := range ids {
			if _, err := w.svc.Expire(ctx, id, Meta{Actor: "recovery-worker"}); err == nil {
				expired++
			} else if !errors.Is(err, aggregate.ErrNotRecoverable) && !errors.Is(err, aggregate.ErrInvalid) {
				w.log.Error("expiring checkout", "order_id", id, "err", err)
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	return expired
}

// NewRecoveryWorker returns a worker that scans every interval (default 5 s) for up to
// batch (default 100) due payments and works them with `workers` goroutines (default 4).
func NewRecoveryWorker(svc *Service, due DueFinder, interval time.Duration, batch, workers int) *RecoveryWorker {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	if batch <= 0 {
		batch = 100
	}
	if workers <= 0 {
		workers = 4
	}
	return &RecoveryWorker{svc: svc, due: due, interval: interval, batch: batch, workers: workers,
		log: svc.log.With("component", "recovery")}
}

// Run scans until ctx ends. It returns ctx.Err().
func (w *RecoveryWorker) Run(ctx context.Context) error {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		w.RunOnce(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// RunOnce expires stale checkouts, checks virtual accounts past their due date, then works
// one batch of due payments, and returns how many of each result it saw.
func (w *RecoveryWorker) RunOnce(ctx context.Context) map[RecoveryResult]int {
	if n := w.expire(ctx); n > 0 {
		w.log.Info("expired checkouts", "count", n)
	}
	w.checkDeposits(ctx)
	cutoff := w.svc.cfg.Now().UTC().Add(-w.svc.cfg.Recovery.ExecutingTimeout)
	ids, err := w.due.OpenForRecovery(ctx, cutoff, w.batch)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error("listing payments due for recovery", "err", err)
		}
		return nil
	}
	var (
		mu      sync.Mutex
		results = map[RecoveryResult]int{}
		wg      sync.WaitGroup
		jobs    = make(chan string)
	)
	for range min(w.workers, len(ids)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range jobs {
				r, _, err := w.svc.Recover(ctx, id, Meta{Actor: "recovery-worker"})
				if err != nil {
					w.log.Error("recovery attempt failed", "order_id", id, "err", err)
					r = "error"
				}
				mu.Lock()
				results[r]++
				mu.Unlock()
			}
		}()
	}
	for _, id := range ids {
		select {
		case jobs <- id:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	return results
}
