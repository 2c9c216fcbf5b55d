package embedded

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"

	"github.com/paystream/paystream/eventstore"
)

// These specs build logs and pending states that the public API cannot produce on demand.

var _ = Describe("Replaying a log whose last write was interrupted", func() {
	var (
		dir, path string
		content   []byte
		damaged   int64 // offset of the damaged frame
	)

	frame := func(batch int64, pos eventstore.Position) []byte {
		return appendRecord(nil, batch, []eventstore.RecordedEvent{{
			Stream: "payment-1", Revision: eventstore.Revision(pos - 1), Position: pos,
			ID: uuid.New(), Type: "test.happened.v1", Data: []byte(`{"n":1}`), RecordedAt: time.Now().UTC(),
		}})
	}

	// build writes positions 1..4: 1 alone in the first batch, 2 and 3 in the second, and 4
	// in the second batch too or in a third. Frame 3's middle is zeroed, as when its pages
	// never reached the disk.
	build := func(fourthInLaterBatch bool) {
		content = append(header(), frame(headerLen, 1)...)
		second := int64(len(content))
		content = append(content, frame(second, 2)...)
		damaged = int64(len(content))
		content = append(content, frame(second, 3)...)
		third := int64(len(content))
		content = append(content, frame(map[bool]int64{false: second, true: third}[fourthInLaterBatch], 4)...)
		clear(content[damaged+20 : damaged+30])
		Expect(os.WriteFile(path, content, 0o640)).To(Succeed())
	}

	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		path = filepath.Join(dir, logName)
	})

	It("truncates at the damage when only frames of the same batch follow it", func(ctx SpecContext) {
		build(false)
		logs := gbytes.NewBuffer()

		s, err := Open(dir, WithLogger(slog.New(slog.NewTextHandler(logs, nil))))

		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(s.Close)
		Expect(logs).To(gbytes.Say("torn tail"))
		events, err := s.ReadStream(ctx, "payment-1")
		Expect(err).NotTo(HaveOccurred())
		Expect(events).To(HaveLen(2))
		info, err := os.Stat(path)
		Expect(err).NotTo(HaveOccurred())
		Expect(info.Size()).To(Equal(damaged))
	})

	It("fails with ErrCorrupt when a frame of a later batch follows the damage", func() {
		build(true)

		_, err := Open(dir)

		Expect(err).To(MatchError(eventstore.ErrCorrupt))
		Expect(os.ReadFile(path)).To(Equal(content))
	})
})

var _ = Describe("An append waiting for the disk", func() {
	var (
		s           *Store
		e           eventstore.Event
		done        chan error
		cancelFirst context.CancelFunc
	)

	appendAsync := func(ctx context.Context) {
		go func() {
			_, err := s.Append(ctx, "payment-1", eventstore.NoStream, []eventstore.Event{e})
			done <- err
		}()
	}

	queued := func() int {
		s.mu.RLock()
		defer s.mu.RUnlock()
		return len(s.disk.queue)
	}

	BeforeEach(func(ctx SpecContext) {
		// A disk whose writer never runs: appends stay pending until the spec acknowledges them.
		s = newStore()
		s.disk = &disk{store: s, kick: make(chan struct{}, 1)}
		e = eventstore.Event{ID: uuid.New(), Type: "test.happened.v1"}
		done = make(chan error, 2)
		var first context.Context
		first, cancelFirst = context.WithCancel(context.Background()) // outlives this BeforeEach
		DeferCleanup(cancelFirst)
		appendAsync(first)
		Eventually(ctx, queued).Should(Equal(1))
	})

	It("is invisible to readers and followers, and so is its retry, until acknowledged", func(ctx SpecContext) {
		appendAsync(ctx) // a retry with the same id waits for the same acknowledgement
		followed := make(chan eventstore.RecordedEvent, 1)
		go func() {
			_ = s.Follow(ctx, 0, "", func(_ context.Context, e eventstore.RecordedEvent) error {
				followed <- e
				return nil
			})
		}()

		Expect(s.ReadStream(ctx, "payment-1")).To(BeEmpty())
		Consistently(done, 50*time.Millisecond).ShouldNot(Receive())
		Expect(followed).NotTo(Receive())

		s.mu.Lock()
		s.advance(1)
		s.mu.Unlock()

		Eventually(ctx, done).Should(Receive(BeNil()))
		Eventually(ctx, done).Should(Receive(BeNil()))
		Eventually(ctx, followed).Should(Receive(HaveField("ID", e.ID)))
		Expect(s.ReadStream(ctx, "payment-1")).To(HaveLen(1))
		Expect(queued()).To(Equal(1)) // the retry wrote nothing
	})

	It("returns when its context ends, saying it may still commit", func(ctx SpecContext) {
		cancelFirst()

		Eventually(ctx, done).Should(Receive(And(MatchError(context.Canceled), MatchError(ContainSubstring("may still commit")))))
	})
})

var _ = Describe("A data directory's cache", func() {
	It("keeps the most recent events within its limit and reads the others from the log", func(ctx SpecContext) {
		s, err := Open(GinkgoT().TempDir())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(s.Close)
		s.mu.Lock()
		s.cacheLimit = 100 << 10
		s.mu.Unlock()
		var ids []uuid.UUID
		for i := range 3 * chunkLen {
			e := eventstore.Event{ID: uuid.New(), Type: "test.happened.v1", Data: []byte(`{"n":1}`)}
			_, err := s.Append(ctx, "payment-1", eventstore.Revision(i)-1, []eventstore.Event{e})
			Expect(err).NotTo(HaveOccurred())
			ids = append(ids, e.ID)
		}

		s.mu.RLock()
		Expect(s.cacheBytes).To(BeNumerically("<=", s.cacheLimit))
		Expect(s.cache.start).To(BeNumerically(">", chunkLen)) // a whole chunk was released
		Expect(s.cache.chunks).To(HaveLen((s.cache.n - s.cache.base + chunkLen - 1) / chunkLen))
		s.mu.RUnlock()
		events, err := s.ReadStream(ctx, "payment-1")
		Expect(err).NotTo(HaveOccurred())
		Expect(events).To(HaveLen(len(ids)))
		for i, e := range events {
			Expect(e.ID).To(Equal(ids[i]))
			Expect(e.Position).To(Equal(eventstore.Position(i + 1)))
			Expect(e.Data).To(MatchJSON(`{"n":1}`))
		}
	})
})

var _ = Describe("memory mode's log", func() {
	It("reads back every frame, those across two chunks too", func() {
		var l memLog
		var offsets []int64
		var frames [][]byte
		// Sizes that land frames on, just before and just after chunk boundaries.
		for i, n := range []int{10, memChunk - 20, 10, 5, memChunk, 3, memChunk + 7, 1} {
			b := bytes.Repeat([]byte{byte(i + 1)}, n)
			offsets = append(offsets, l.append(b))
			frames = append(frames, b)
		}
		for i, b := range frames {
			got := make([]byte, len(b))
			n, err := l.ReadAt(got, offsets[i])
			Expect(err).NotTo(HaveOccurred())
			Expect(n).To(Equal(len(b)))
			Expect(got).To(Equal(b), "frame %d", i)
		}
		// A read running past the end gets what there is, and io.EOF.
		got := make([]byte, 4)
		n, err := l.ReadAt(got, l.size-1)
		Expect(err).To(MatchError(io.EOF))
		Expect(n).To(Equal(1))
		Expect(got[0]).To(Equal(byte(8)))
	})
})
