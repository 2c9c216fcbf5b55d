package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/eventstore"
)

// wait bounds every wait for followed events; generous because a real server may be remote.
const wait = 10 * time.Second

// run names the streams of one spec so that specs never share a stream, even on a shared
// server that other runs use at the same time.
type run struct {
	id string
	n  atomic.Int64
}

func newRun() *run {
	return &run{id: strings.ReplaceAll(uuid.NewString(), "-", "")[:12]}
}

// prefix is the common prefix of this run's streams of one kind.
func (r *run) prefix(kind string) string { return kind + "-" + r.id + "-" }

// stream returns a fresh stream name of the given kind, e.g. payment-<run>-3.
func (r *run) stream(kind string) string {
	return fmt.Sprintf("%s%d", r.prefix(kind), r.n.Add(1))
}

// owns reports whether a stream belongs to this run, whatever its kind.
func (r *run) owns(stream string) bool { return strings.Contains(stream, "-"+r.id+"-") }

func newEvent(typ string) eventstore.Event {
	id := uuid.New()
	return eventstore.Event{
		ID:       id,
		Type:     typ,
		Data:     fmt.Appendf(nil, `{"event_id":%q}`, id),
		Metadata: []byte(`{"correlation_id":"storetest","actor":"conformance"}`),
	}
}

func newEvents(n int) []eventstore.Event {
	events := make([]eventstore.Event, n)
	for i := range events {
		events[i] = newEvent("storetest.happened.v1")
	}
	return events
}

func eventIDs(events []eventstore.Event) []uuid.UUID {
	out := make([]uuid.UUID, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

func ids(events []eventstore.RecordedEvent) []uuid.UUID {
	out := make([]uuid.UUID, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

func positions(events []eventstore.RecordedEvent) []eventstore.Position {
	out := make([]eventstore.Position, len(events))
	for i, e := range events {
		out[i] = e.Position
	}
	return out
}

// expectStrictlyIncreasing fails unless every position is above zero and above the one
// before it.
func expectStrictlyIncreasing(ps []eventstore.Position) {
	ginkgo.GinkgoHelper()
	prev := eventstore.Position(0)
	for i, p := range ps {
		Expect(p).To(BeNumerically(">", prev), "position #%d of %v", i, ps)
		prev = p
	}
}

// follower runs Follow in the background and records what it delivers.
type follower struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done is closed

	mu  sync.Mutex
	got []eventstore.RecordedEvent
}

// follow starts following store after the given position and prefix, keeping the events
// for which keep is true (nil keeps all). The follow is stopped when the spec ends.
func follow(store eventstore.Store, after eventstore.Position, prefix string, keep func(eventstore.RecordedEvent) bool) *follower {
	ctx, cancel := context.WithCancel(context.Background())
	f := &follower{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer ginkgo.GinkgoRecover()
		defer close(f.done)
		f.err = store.Follow(ctx, after, prefix, func(_ context.Context, e eventstore.RecordedEvent) error {
			if keep == nil || keep(e) {
				f.mu.Lock()
				f.got = append(f.got, e)
				f.mu.Unlock()
			}
			return nil
		})
	}()
	ginkgo.DeferCleanup(func() { _ = f.stop() })
	return f
}

func (f *follower) events() []eventstore.RecordedEvent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.got)
}

// stop cancels the follow and returns what Follow returned.
func (f *follower) stop() error {
	ginkgo.GinkgoHelper()
	f.cancel()
	Eventually(f.done).WithTimeout(wait).Should(BeClosed(), "Follow did not return after its context was cancelled")
	return f.err
}

// fence appends a marker event to a fresh stream and waits until f delivers it. Every
// event committed before the marker has a lower position, so once the marker arrives the
// events before it are all f will ever deliver below it; fence returns exactly those.
func fence(ctx context.Context, store eventstore.Store, f *follower, stream string) []eventstore.RecordedEvent {
	ginkgo.GinkgoHelper()
	marker := newEvent("storetest.fence.v1")
	_, err := store.Append(ctx, stream, eventstore.NoStream, []eventstore.Event{marker})
	Expect(err).NotTo(HaveOccurred())
	Eventually(ctx, func() []uuid.UUID { return ids(f.events()) }).WithTimeout(wait).Should(ContainElement(marker.ID))
	got := f.events()
	i := slices.IndexFunc(got, func(e eventstore.RecordedEvent) bool { return e.ID == marker.ID })
	return got[:i]
}
