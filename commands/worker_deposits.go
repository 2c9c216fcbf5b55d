package commands

import (
	"context"
	"sync"
	"time"
)

// Virtual accounts past their due date, for the recovery worker: Toss sends nothing when the
// due date passes, so each scan looks the due ones up.

// DueDeposits lists payments WAITING_FOR_DEPOSIT whose due date is not after dueBy
// (aggregate.State.DepositOverdue), a page at a time (cursor "" starts; a returned ""
// cursor ends). The read models do, by their due-date column.
type DueDeposits interface {
	DepositsDue(ctx context.Context, dueBy time.Time, cursor string) (ids []string, next string, err error)
}

// WaitingDeposits lists payments WAITING_FOR_DEPOSIT (any due date), a page at a time
// (cursor "" starts; a returned "" cursor ends), for a listing that knows no due dates.
type WaitingDeposits interface {
	WaitingDeposits(ctx context.Context, cursor string) (ids []string, next string, err error)
}

// WithDueDeposits makes each scan also check the payments waiting for a deposit whose due
// date has passed, as d lists them (Service.CheckDeposit: lookup first, then the deposit or
// the expiry is recorded). A payment not due yet costs nothing: its stream is not read.
func (w *RecoveryWorker) WithDueDeposits(d DueDeposits) *RecoveryWorker {
	w.deposits = d
	return w
}

// WithDeposits is WithDueDeposits over a listing without due dates: each waiting payment's
// due date is learnt from its stream the first time it is listed, so later scans skip it
// without reading it until the date.
func (w *RecoveryWorker) WithDeposits(d WaitingDeposits) *RecoveryWorker {
	return w.WithDueDeposits(&learntDueDates{list: d, svc: w.svc, dues: map[string]time.Time{}})
}

// learntDueDates turns a listing of waiting payments into one of due payments by reading
// each one's due date from its stream once.
type learntDueDates struct {
	list WaitingDeposits
	svc  *Service

	mu     sync.Mutex
	dues   map[string]time.Time
	listed map[string]bool // in this walk of the listing
}

func (l *learntDueDates) DepositsDue(ctx context.Context, dueBy time.Time, cursor string) ([]string, string, error) {
	ids, next, err := l.list.WaitingDeposits(ctx, cursor)
	if err != nil {
		return nil, "", err
	}
	l.mu.Lock()
	if cursor == "" {
		l.listed = map[string]bool{}
	}
	for _, id := range ids {
		l.listed[id] = true
	}
	if next == "" { // a whole walk: forget payments no longer waiting
		for id := range l.dues {
			if !l.listed[id] {
				delete(l.dues, id)
			}
		}
	}
	l.mu.Unlock()
	var due []string
	for _, id := range ids {
		l.mu.Lock()
		at, known := l.dues[id]
		l.mu.Unlock()
		if !known {
			p, err := l.svc.Load(ctx, id)
			if err != nil {
				return nil, "", err
			}
			if !p.WaitingForDeposit() || p.VirtualAccount == nil {
				continue
			}
			at = p.VirtualAccount.DueDate
			l.mu.Lock()
			l.dues[id] = at
			l.mu.Unlock()
		}
		if !dueBy.Before(at) {
			due = append(due, id)
		}
	}
	return due, next, nil
}

// checkDeposits works the waiting payments due by now; it returns how many it settled.
func (w *RecoveryWorker) checkDeposits(ctx context.Context) int {
	if w.deposits == nil {
		return 0
	}
	settled, cursor := 0, ""
	now := w.svc.cfg.Now()
	for range maxExpiryPages {
		ids, next, err := w.deposits.DepositsDue(ctx, now, cursor)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Error("listing payments due for a deposit check", "err", err)
			}
			return settled
		}
		for _, id := range ids {
			did, _, err := w.svc.CheckDeposit(ctx, id, Meta{Actor: "recovery-worker"})
			switch {
			case err != nil:
				w.log.Error("checking a deposit", "order_id", id, "err", err)
			case did != "not waiting" && did != "not due" && did != "still waiting" && did != "lookup undecided":
				settled++
				w.log.Info("deposit checked at its due date", "order_id", id, "did", did)
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	return settled
}
