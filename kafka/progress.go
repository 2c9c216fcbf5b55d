package kafka

import (
	"context"
	"time"
)

// Progress receives a role's progress reports (*progress.Tracker has these methods):
// Advanced with the role's position (an event-store position for the forwarder, records
// handled since Run started for consumers), Beat when its loop is alive with nothing to do,
// Failed with each failure it retries.
type Progress interface {
	Advanced(position uint64)
	Beat()
	Failed(err error)
}

// NoProgress reports nowhere.
type NoProgress struct{}

func (NoProgress) Advanced(uint64) {}
func (NoProgress) Beat()           {}
func (NoProgress) Failed(error)    {}

// Sleep waits d or until ctx ends, whichever comes first; it reports whether the whole d
// passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
