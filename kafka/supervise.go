package kafka

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Supervise runs a role until ctx ends, running it again with backoff (100 ms, doubling to
// 10 s) after it failed: a broker restarting, a transaction its coordinator aborted, a
// connection lost mid-commit. paymentd and the standalone ledger and wallet both run their
// roles under it, so neither stops for good when the broker comes back. A fenced role stays
// stopped — another instance owns its work — and Supervise returns its error; it returns nil
// when ctx ends. stopped, when set, hears every failure (a progress tracker).
func Supervise(ctx context.Context, log *slog.Logger, stopped func(error), run func(context.Context) error) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := run(ctx)
		if err == nil || ctx.Err() != nil {
			return nil
		}
		if stopped != nil {
			stopped(err)
		}
		if errors.Is(err, ErrFenced) {
			log.Error("fenced by another instance; stopped", "err", err)
			return err
		}
		log.Error("stopped; restarting", "err", err, "backoff", backoff)
		Sleep(ctx, backoff)
		backoff = min(2*backoff, 10*time.Second)
	}
	return nil
}
