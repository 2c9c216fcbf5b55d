package storetest

import (
	"context"
	"sync"

	"github.com/paystream/paystream/eventstore"
)

// ReadCounter is a store that counts the stream reads made through it, for specs that
// assert what is read and what is not (a cache, a due-date index).
type ReadCounter struct {
	eventstore.Store
	mu    sync.Mutex
	reads map[string]int
}

// CountReads wraps store.
func CountReads(store eventstore.Store) *ReadCounter {
	return &ReadCounter{Store: store, reads: map[string]int{}}
}

// ReadStream counts the read, then reads.
func (c *ReadCounter) ReadStream(ctx context.Context, stream string) ([]eventstore.RecordedEvent, error) {
	c.mu.Lock()
	c.reads[stream]++
	c.mu.Unlock()
	return c.Store.ReadStream(ctx, stream)
}

// Reads is how often stream was read since the start or the last Reset.
func (c *ReadCounter) Reads(stream string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads[stream]
}

// Reset sets every count to zero.
func (c *ReadCounter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads = map[string]int{}
}
