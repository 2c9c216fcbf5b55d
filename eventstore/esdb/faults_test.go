package esdb_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/esdb"
	"github.com/paystream/paystream/eventstore/esdbtest"
)

func logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(GinkgoWriter, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func newEvent() eventstore.Event {
	id := uuid.New()
	return eventstore.Event{ID: id, Type: "test.happened.v1", Data: fmt.Appendf(nil, `{"id":%q}`, id),
		Metadata: []byte(`{"correlation_id":"c-1","actor":"spec","schema_version":1}`)}
}

// collector is a Follow running in the background, recording what it delivers.
type collector struct {
	mu   sync.Mutex
	got  []eventstore.RecordedEvent
	done chan error
}

func followInBackground(s *esdb.Store, after eventstore.Position, prefix string) *collector {
	ctx, cancel := context.WithCancel(context.Background())
	c := &collector{done: make(chan error, 1)}
	go func() {
		c.done <- s.Follow(ctx, after, prefix, func(_ context.Context, e eventstore.RecordedEvent) error {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.got = append(c.got, e)
			return nil
		})
	}()
	DeferCleanup(func(ctx SpecContext) {
		cancel()
		Eventually(ctx, c.done).Should(Receive(MatchError(context.Canceled)))
	})
	return c
}

func (c *collector) ids() []uuid.UUID {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]uuid.UUID, len(c.got))
	for i, e := range c.got {
		out[i] = e.ID
	}
	return out
}

func (c *collector) positions() []eventstore.Position {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]eventstore.Position, len(c.got))
	for i, e := range c.got {
		out[i] = e.Position
	}
	return out
}

// appendEventually appends one event after rev, retrying through faults: a retry of the
// same event at the same revision is idempotent, so it is written exactly once.
func appendEventually(ctx context.Context, s *esdb.Store, stream string, rev eventstore.Revision, e eventstore.Event) {
	GinkgoHelper()
	Eventually(ctx, func() error {
		_, err := s.Append(ctx, stream, rev, []eventstore.Event{e})
		return err
	}).Should(Succeed())
}

var _ = Describe("Store", func() {
	var (
		srv    *esdbtest.Server
		store  *esdb.Store
		prefix string
	)

	BeforeEach(func(ctx SpecContext) {
		srv = startEmulator()
		store = open(ctx, srv.URL(), esdb.WithResubscribeBackoff(10*time.Millisecond, 200*time.Millisecond))
		prefix = "payment-" + uuid.NewString()[:8] + "-"
	})

	Context("with 50 appenders on separate connections at the same revision", func() {
		It("lets exactly one win and fails the rest with ErrConcurrency", func(ctx SpecContext) {
			stream := prefix + "1"
			_, err := store.Append(ctx, stream, eventstore.NoStream, []eventstore.Event{newEvent()})
			Expect(err).NotTo(HaveOccurred())
			clients := make([]*esdb.Store, 5)
			for i := range clients {
				clients[i] = open(ctx, srv.URL())
			}
			errs := make([]error, 50)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range errs {
				wg.Go(func() {
					<-start
					_, errs[i] = clients[i%len(clients)].Append(ctx, stream, 0, []eventstore.Event{newEvent()})
				})
			}
			close(start)
			wg.Wait()

			wins := 0
			for _, err := range errs {
				if err == nil {
					wins++
				} else {
					Expect(err).To(MatchError(eventstore.ErrConcurrency))
				}
			}
			Expect(wins).To(Equal(1))
			Expect(store.ReadStream(ctx, stream)).To(HaveLen(2))
		})
	})

	// faults pins that a Follow survives each fault without losing or repeating events.
	DescribeTable("following across a fault, it resumes with no event lost or delivered twice",
		func(ctx SpecContext, fault func(), heal func()) {
			stream := prefix + "1"
			f := followInBackground(store, 0, prefix)
			var want []uuid.UUID
			rev := eventstore.NoStream
			appendSome := func(n int) {
				for range n {
					e := newEvent()
					appendEventually(ctx, store, stream, rev, e)
					rev++
					want = append(want, e.ID)
				}
			}
			appendSome(20)
			Eventually(ctx, f.ids).Should(Equal(want))

			fault()
			if heal != nil {
				_, err := store.Append(ctx, stream, rev, []eventstore.Event{newEvent()})
				Expect(err).To(HaveOccurred(), "appending while the server is down")
				Expect(err).NotTo(MatchError(eventstore.ErrConcurrency))
				_, err = store.ReadStream(ctx, stream)
				Expect(err).To(HaveOccurred(), "reading while the server is down")
				heal()
			}
			appendSome(20)

			Eventually(ctx, f.ids).Should(Equal(want))
			// Fence: a marker in another stream arrives only after everything before it.
			marker := newEvent()
			appendEventually(ctx, store, prefix+"fence", eventstore.NoStream, marker)
			Eventually(ctx, f.ids).Should(Equal(append(slices.Clone(want), marker.ID)))
			Expect(slices.IsSorted(f.positions())).To(BeTrue())
			Expect(slices.Compact(f.positions())).To(HaveLen(len(want) + 1))
		},
		Entry("the emulator restarted (killed and started on the same port)", func() {
			Expect(srv.Restart()).To(Succeed())
		}, nil),
		Entry("every connection dropped", func() { srv.DropConnections() }, nil),
		Entry("the server unavailable for a while (the client gives up and is replaced)", func() {
			srv.SetUnavailable(true)
		}, func() { srv.SetUnavailable(false) }),
	)

	Context("when the server is unavailable", func() {
		It("fails appends and reads with the client's error, then recovers", func(ctx SpecContext) {
			stream := prefix + "1"
			srv.SetUnavailable(true)

			_, err := store.Append(ctx, stream, eventstore.NoStream, []eventstore.Event{newEvent()})
			Expect(err).To(MatchError(ContainSubstring("append " + stream)))
			Expect(err).NotTo(MatchError(eventstore.ErrConcurrency))

			srv.SetUnavailable(false)
			e := newEvent()
			appendEventually(ctx, store, stream, eventstore.NoStream, e)
			got, err := store.ReadStream(ctx, stream)
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(HaveLen(1))
			Expect(got[0].ID).To(Equal(e.ID))
		})
	})

	Context("once closed", func() {
		It("fails every operation with ErrClosed", func(ctx SpecContext) {
			Expect(store.Close()).To(Succeed())

			_, err := store.Append(ctx, prefix+"1", eventstore.NoStream, []eventstore.Event{newEvent()})
			Expect(err).To(MatchError(eventstore.ErrClosed))
			_, err = store.ReadStream(ctx, prefix+"1")
			Expect(err).To(MatchError(eventstore.ErrClosed))
			err = store.Follow(ctx, 0, prefix, func(context.Context, eventstore.RecordedEvent) error { return nil })
			Expect(err).To(MatchError(eventstore.ErrClosed))
			Expect(store.Close()).To(Succeed())
		})

		It("ends a running Follow with ErrClosed", func(ctx SpecContext) {
			_, err := store.Append(ctx, prefix+"1", eventstore.NoStream, []eventstore.Event{newEvent()})
			Expect(err).NotTo(HaveOccurred())
			delivered := make(chan struct{}, 1)
			done := make(chan error, 1)
			go func() {
				done <- store.Follow(ctx, 0, prefix, func(context.Context, eventstore.RecordedEvent) error {
					delivered <- struct{}{}
					return nil
				})
			}()
			Eventually(ctx, delivered).Should(Receive())

			Expect(store.Close()).To(Succeed())

			Eventually(ctx, done).Should(Receive(MatchError(eventstore.ErrClosed)))
		})
	})

	Context("recorded events", func() {
		It("carry our metadata as the event's custom metadata and JSON data", func(ctx SpecContext) {
			stream := prefix + "1"
			e := newEvent()
			_, err := store.Append(ctx, stream, eventstore.NoStream, []eventstore.Event{e})
			Expect(err).NotTo(HaveOccurred())

			got, err := store.ReadStream(ctx, stream)
			Expect(err).NotTo(HaveOccurred())
			Expect(got[0].Metadata).To(MatchJSON(e.Metadata))
			Expect(got[0].Data).To(MatchJSON(e.Data))
		})
	})
})

var _ = Describe("Open", func() {
	DescribeTable("rejects a malformed connection string without echoing it",
		func(ctx SpecContext, url string) {
			_, err := esdb.Open(ctx, url)
			Expect(err).To(MatchError(ContainSubstring("connection string")))
			Expect(err.Error()).NotTo(ContainSubstring("s3cret"))
		},
		Entry("not a URL", "not a url"),
		Entry("another scheme", "https://admin:s3cret@127.0.0.1:2113"),
		Entry("no host", "esdb://"),
		Entry("an unknown setting", "esdb://admin:s3cret@127.0.0.1:2113?tls=maybe"),
	)

	DescribeTable("accepts the insecure and TLS forms",
		func(url string) {
			_, err := esdb.ParseURL(url)
			Expect(err).NotTo(HaveOccurred())
		},
		Entry("insecure single node", "esdb://127.0.0.1:2113?tls=false"),
		Entry("TLS with credentials", "esdb://admin:changeit@db.example:2113"),
		Entry("TLS, certificate not verified", "esdb://db.example:2113?tls=true&tlsVerifyCert=false"),
		Entry("cluster by gossip", "esdb+discover://db1.example:2113,db2.example:2113?tls=true"),
	)

	It("fails when no server answers before its context ends", func(ctx SpecContext) {
		srv := startEmulator()
		url := srv.URL()
		srv.Stop()
		short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()

		_, err := esdb.Open(short, url)

		Expect(err).To(MatchError(context.DeadlineExceeded))
	})
})
