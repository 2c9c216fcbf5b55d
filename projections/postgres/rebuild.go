package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/projections"
)

// Progress reports a rebuild's position against the live checkpoint it is catching up with.
type Progress func(rebuilt, live eventstore.Position)

// Rebuild projects every payment stream from position 0 into a fresh schema (the store's
// schema + "_rebuild") and, once it has caught up with the live checkpoint, replaces the
// live rows with the rebuilt ones in one transaction that holds the live checkpoint row,
// then drops the fresh schema. The live projector may keep running meanwhile: it waits for
// the swap and resumes from the swapped-in checkpoint. Dead letters are kept. It returns the
// checkpoint swapped in.
func (s *Store) Rebuild(ctx context.Context, src projections.Source, log *slog.Logger, progress Progress) (eventstore.Position, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	staging := s.schema + "_rebuild"
	if _, err := s.pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+staging+" CASCADE"); err != nil {
		return 0, fmt.Errorf("rebuild: %w", err)
	}
	st, err := Open(ctx, s.pool, WithSchema(staging), WithStandbyPoll(s.standbyPoll))
	if err != nil {
		return 0, fmt.Errorf("rebuild: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, _ = s.pool.Exec(dctx, "DROP SCHEMA IF EXISTS "+staging+" CASCADE")
	}()
	pctx, cancel := context.WithCancel(ctx)
	proj := projections.NewProjector(src, st, projections.Options{Logger: log, Name: "rebuild"})
	done := make(chan struct{})
	go func() { defer close(done); _ = proj.Run(pctx) }()
	defer func() { cancel(); <-done }()

	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("rebuild: %w", ctx.Err())
		case <-proj.Poisoned():
			return 0, fmt.Errorf("rebuild: %w", proj.Health())
		case <-tick.C:
		}
		live, err := s.Checkpoint(ctx)
		if err != nil {
			return 0, fmt.Errorf("rebuild: %w", err)
		}
		rebuilt := proj.Status().Checkpoint
		if progress != nil {
			progress(rebuilt, live)
		}
		if rebuilt < live {
			continue
		}
		swapped, at, err := s.swap(ctx, staging)
		if err != nil {
			return 0, fmt.Errorf("rebuild: %w", err)
		}
		if swapped {
			return at, nil
		}
	}
}

// swap replaces the live rows with the staging ones if staging has caught up with the live
// checkpoint, holding the live checkpoint row so no live commit interleaves.
func (s *Store) swap(ctx context.Context, staging string) (bool, eventstore.Position, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, 0, fmt.Errorf("swap: %w", err)
	}
	defer tx.Rollback(ctx)
	var live, rebuilt int64
	if err := tx.QueryRow(ctx, s.q("SELECT position FROM __S__.projection_checkpoint WHERE name = $1 FOR UPDATE"), checkpointName).Scan(&live); err != nil {
		return false, 0, fmt.Errorf("swap: %w", err)
	}
	if err := tx.QueryRow(ctx, "SELECT position FROM "+staging+".projection_checkpoint WHERE name = $1 FOR UPDATE", checkpointName).Scan(&rebuilt); err != nil {
		return false, 0, fmt.Errorf("swap: %w", err)
	}
	if rebuilt < live {
		return false, 0, nil
	}
	b := &pgx.Batch{}
	b.Queue(s.q("DELETE FROM __S__.payment_order_history"))
	b.Queue(s.q("DELETE FROM __S__.payment_refunds"))
	b.Queue(s.q("DELETE FROM __S__.payment_orders"))
	b.Queue(s.q("DELETE FROM __S__.payment_events"))
	b.Queue(s.q("INSERT INTO __S__.payment_events ("+paymentCols+") SELECT "+paymentCols+" FROM ") + staging + ".payment_events")
	b.Queue(s.q("INSERT INTO __S__.payment_orders ("+orderCols+") SELECT "+orderCols+" FROM ") + staging + ".payment_orders")
	b.Queue(s.q("INSERT INTO __S__.payment_refunds ("+refundCols+") SELECT "+refundCols+" FROM ") + staging + ".payment_refunds")
	const hcols = "position, order_id, seq, previous_status, new_status, reason, actor, at, event_id"
	b.Queue(s.q("INSERT INTO __S__.payment_order_history ("+hcols+") SELECT "+hcols+" FROM ") + staging + ".payment_order_history")
	b.Queue(s.q("UPDATE __S__.projection_checkpoint SET position = $2, updated_at = now() WHERE name = $1"), checkpointName, rebuilt)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return false, 0, fmt.Errorf("swap: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return false, 0, fmt.Errorf("swap: commit: %w", err)
	}
	return true, eventstore.Position(rebuilt), nil
}
