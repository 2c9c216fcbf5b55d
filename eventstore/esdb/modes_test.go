package esdb_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc/codes"

	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/esdb"
	"github.com/paystream/paystream/eventstore/esdbtest"
)

// The adapter against each real-server behaviour the emulator reproduces. Every spec here
// fails when the adapter's fix for that behaviour is reverted.
var _ = Describe("Store against real-server behaviours", func() {
	var prefix string
	BeforeEach(func() { prefix = "payment-" + uuid.NewString()[:8] + "-" })

	startWith := func(opts esdbtest.Options) *esdbtest.Server {
		GinkgoHelper()
		srv, err := esdbtest.Start(opts)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(srv.Stop)
		return srv
	}
	fast := esdb.WithResubscribeBackoff(10*time.Millisecond, 200*time.Millisecond)
	appends := func(srv *esdbtest.Server) int {
		n := 0
		for _, r := range srv.Requests() {
			if strings.HasSuffix(r.Method, "/Append") {
				n++
			}
		}
		return n
	}

	// KDB-710 and KDB-744: a checkpoint never counts as a delivered event, and a wrong one
	// is never resumed from.
	DescribeTable("Follow, on every server version, delivers every event once whatever checkpoints it gets, across a reconnect",
		func(ctx SpecContext, version string) {
			srv := startWith(esdbtest.Options{ServerVersion: version})
			store := open(ctx, srv.URL(), fast)
			appendEventually(ctx, store, "noise-"+uuid.NewString(), eventstore.NoStream, newEvent())
			f := followInBackground(store, 0, prefix)
			Eventually(srv.LiveSubscriptions).Should(Equal(1), "caught up with nothing matched")

			var want []uuid.UUID
			for i := range 3 {
				e := newEvent()
				appendEventually(ctx, store, prefix+"1", eventstore.Revision(i)-1, e)
				want = append(want, e.ID)
			}
			Eventually(ctx, f.ids).Should(Equal(want))

			srv.DropConnections() // resubscribe: from what was delivered, never a bad checkpoint
			Eventually(srv.LiveSubscriptions).Should(Equal(1))
			for i := range 3 {
				e := newEvent()
				appendEventually(ctx, store, prefix+"1", eventstore.Revision(i)+2, e)
				want = append(want, e.ID)
			}
			Eventually(ctx, f.ids).Should(Equal(want))
		},
		Entry("23.10.0", "23.10.0"),
		Entry("24.10.0 (KDB-710)", "24.10.0"),
		Entry("24.10.4 (KDB-710)", "24.10.4"),
		Entry("24.10.5", "24.10.5"),
		Entry("25.0.0 (KDB-744)", "25.0.0"),
		Entry("25.0.1", "25.0.1"),
	)

	DescribeTable("Follow, after a bad checkpoint arrives just before a reconnect, resumes from the last event it delivered",
		func(ctx SpecContext, version string) {
			srv := startWith(esdbtest.Options{ServerVersion: version})
			store := open(ctx, srv.URL(), fast)
			appendEventually(ctx, store, "noise-"+uuid.NewString(), eventstore.NoStream, newEvent())
			f := followInBackground(store, 0, prefix)
			Eventually(srv.LiveSubscriptions).Should(Equal(1))

			// Cut the subscriber off, write while it is away, let it back in.
			srv.SetSubscriptionsDown(true)
			Eventually(srv.LiveSubscriptions).Should(BeZero())
			var want []uuid.UUID
			for i := range 3 {
				e := newEvent()
				appendEventually(ctx, store, prefix+"1", eventstore.Revision(i)-1, e)
				want = append(want, e.ID)
			}
			srv.SetSubscriptionsDown(false)
			Eventually(ctx, f.ids).Should(Equal(want))
		},
		Entry("24.10.4 (KDB-710: MaxUint64)", "24.10.4"),
		Entry("25.0.0 (KDB-744: end of log, 0)", "25.0.0"),
	)

	DescribeTable("Open names the server version and warns about the defective ones",
		func(ctx SpecContext, version, warning string) {
			var logs bytes.Buffer
			srv := startWith(esdbtest.Options{ServerVersion: version})
			store := open(ctx, srv.URL(), esdb.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			Expect(store.ServerVersion()).To(Equal(version))
			if warning == "" {
				Expect(logs.String()).NotTo(ContainSubstring("level=WARN"))
			} else {
				Expect(logs.String()).To(ContainSubstring(warning))
			}
		},
		Entry("24.10.4", "24.10.4", "KDB-710"),
		Entry("25.0.0", "25.0.0", "KDB-744"),
		Entry("24.10.5", "24.10.5", ""),
		Entry("25.0.1", "25.0.1", ""),
	)

	It("sends requires-leader on every call", func(ctx SpecContext) {
		srv := startWith(esdbtest.Options{})
		store := open(ctx, srv.URL(), fast)
		e := newEvent()
		appendEventually(ctx, store, prefix+"1", eventstore.NoStream, e)
		_, err := store.Append(ctx, prefix+"1", eventstore.NoStream, []eventstore.Event{newEvent()}) // conflict: reads too
		Expect(err).To(MatchError(eventstore.ErrConcurrency))
		f := followInBackground(store, 0, prefix)
		Eventually(ctx, f.ids).Should(Equal([]uuid.UUID{e.ID}))

		streamCalls := 0
		for _, r := range srv.Requests() {
			if strings.HasPrefix(r.Method, "/event_store.client.streams.") {
				streamCalls++
				Expect(r.RequiresLeader).To(BeTrue(), "%s without requires-leader", r.Method)
			}
		}
		Expect(streamCalls).To(BeNumerically(">=", 5))
	})

	Context("given a follower's address", func() {
		It("follows NotLeader to the leader for every operation", func(ctx SpecContext) {
			cluster, err := esdbtest.StartCluster(3, esdbtest.Options{}, 50*time.Millisecond)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(cluster.Stop)

			store := open(ctx, cluster.Follower().URL(), fast)
			e := newEvent()
			_, err = store.Append(ctx, prefix+"1", eventstore.NoStream, []eventstore.Event{e})
			Expect(err).NotTo(HaveOccurred())
			Expect(store.ReadStream(ctx, prefix+"1")).To(HaveLen(1))
			f := followInBackground(store, 0, prefix)
			Eventually(ctx, f.ids).Should(Equal([]uuid.UUID{e.ID}))
			Expect(appends(cluster.Leader())).To(Equal(1), "the leader took the write")
		})
	})

	Context("when an append's reply is lost after it landed", func() {
		DescribeTable("retries with the same ids and reports the original result, written once",
			func(ctx SpecContext, lost codes.Code) {
				srv := startWith(esdbtest.Options{})
				store := open(ctx, srv.URL(), fast)
				srv.LoseAppendReplies(lost)

				_, err := store.Append(ctx, prefix+"1", eventstore.NoStream, []eventstore.Event{newEvent()})

				Expect(err).NotTo(HaveOccurred())
				Expect(store.ReadStream(ctx, prefix+"1")).To(HaveLen(1))
			},
			Entry("connection dropped (Unavailable)", codes.Unavailable),
			Entry("deadline exceeded", codes.DeadlineExceeded),
			Entry("commit timeout (Aborted)", codes.Aborted),
		)

		It("fails with ErrOutcomeUnknown when no attempt gets a definite answer (the write is there)", func(ctx SpecContext) {
			srv := startWith(esdbtest.Options{})
			store := open(ctx, srv.URL(), fast)
			srv.LoseAppendReplies(codes.DeadlineExceeded, codes.DeadlineExceeded, codes.DeadlineExceeded, codes.DeadlineExceeded, codes.DeadlineExceeded, codes.DeadlineExceeded)
			e := newEvent()

			_, err := store.Append(ctx, prefix+"1", eventstore.NoStream, []eventstore.Event{e})

			Expect(err).To(MatchError(eventstore.ErrOutcomeUnknown))
			Expect(err).NotTo(MatchError(eventstore.ErrConcurrency))
			got, err := store.ReadStream(ctx, prefix+"1")
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(HaveLen(1))
			Expect(got[0].ID).To(Equal(e.ID))
		})

		It("fails with ErrOutcomeUnknown when its context ends mid-call", func(ctx SpecContext) {
			srv := startWith(esdbtest.Options{CommitTimeout: 5 * time.Second})
			store := open(ctx, srv.URL(), fast)
			srv.SetReplicationDelay(time.Second)
			short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()

			_, err := store.Append(short, prefix+"1", eventstore.NoStream, []eventstore.Event{newEvent()})

			Expect(err).To(MatchError(eventstore.ErrOutcomeUnknown))
			Expect(err).To(MatchError(context.DeadlineExceeded))
			Eventually(ctx, func() ([]eventstore.RecordedEvent, error) { return store.ReadStream(ctx, prefix+"1") }).Should(HaveLen(1))
		})
	})

	Context("when replication is slow (commit timeouts, retries refused until replicated)", func() {
		It("retries with the same ids until the original is replicated, and writes once", func(ctx SpecContext) {
			srv := startWith(esdbtest.Options{CommitTimeout: 80 * time.Millisecond})
			store := open(ctx, srv.URL(), fast)
			srv.SetReplicationDelay(250 * time.Millisecond)

			res, err := store.Append(ctx, prefix+"1", eventstore.NoStream, []eventstore.Event{newEvent()})

			Expect(err).NotTo(HaveOccurred())
			Expect(res.Revision).To(Equal(eventstore.Revision(0)))
			Expect(store.ReadStream(ctx, prefix+"1")).To(HaveLen(1))
			Expect(appends(srv)).To(BeNumerically(">", 1))
		})
	})

	Context("when the client wedges (NotLeader towards a leader that does not answer)", func() {
		It("returns when the context ends and retires the client", func(ctx SpecContext) {
			cluster, err := esdbtest.StartCluster(2, esdbtest.Options{}, time.Hour)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(cluster.Stop)
			cluster.Leader().SetStalled(true)
			DeferCleanup(func() { cluster.Leader().SetStalled(false) })
			short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			defer cancel()
			done := make(chan error, 1)

			go func() {
				_, err := esdb.Open(short, cluster.Follower().URL()+"&gossipTimeout=3", esdb.WithLogger(logger()))
				done <- err
			}()

			var got error
			Eventually(done).WithTimeout(1500 * time.Millisecond).Should(Receive(&got))
			Expect(got).To(MatchError(context.DeadlineExceeded))
		})
	})

	Context("appends the server would refuse", func() {
		It("refuses over 1 MiB with ErrInvalidAppend before sending anything", func(ctx SpecContext) {
			srv := startWith(esdbtest.Options{})
			store := open(ctx, srv.URL())
			e := newEvent()
			e.Data = []byte(`"` + strings.Repeat("x", esdb.MaxAppendSize) + `"`)

			_, err := store.Append(ctx, prefix+"1", eventstore.NoStream, []eventstore.Event{e})

			Expect(err).To(MatchError(eventstore.ErrInvalidAppend))
			Expect(appends(srv)).To(BeZero())
		})

		It("maps the server's own size refusal (a lower MaxAppendSize) to ErrInvalidAppend", func(ctx SpecContext) {
			srv := startWith(esdbtest.Options{MaxAppendSize: 1000})
			store := open(ctx, srv.URL())
			e := newEvent()
			e.Data = []byte(`"` + strings.Repeat("x", 2000) + `"`)

			_, err := store.Append(ctx, prefix+"1", eventstore.NoStream, []eventstore.Event{e})

			Expect(err).To(MatchError(eventstore.ErrInvalidAppend))
			Expect(err).NotTo(MatchError(eventstore.ErrOutcomeUnknown))
		})

		It("refuses a nil event id before sending (the client would replace it with a random one)", func(ctx SpecContext) {
			srv := startWith(esdbtest.Options{})
			store := open(ctx, srv.URL())
			e := newEvent()
			e.ID = uuid.Nil

			_, err := store.Append(ctx, prefix+"1", eventstore.NoStream, []eventstore.Event{e})

			Expect(err).To(MatchError(eventstore.ErrInvalidAppend))
			Expect(appends(srv)).To(BeZero())
		})
	})

	Context("credentials", func() {
		var srv *esdbtest.Server
		BeforeEach(func() {
			srv = startWith(esdbtest.Options{TLS: true, Users: map[string]string{"admin": "changeit", "ops": "s3cret"}, Admins: []string{"admin"}})
		})

		It("fails Open at once with ErrAccessDenied for a user that may not read $all", func(ctx SpecContext) {
			_, err := esdb.Open(ctx, srv.UserURL("ops", "s3cret"), esdb.WithLogger(logger()))

			Expect(err).To(MatchError(esdb.ErrAccessDenied))
			Expect(err.Error()).To(ContainSubstring("$admins"))
			Expect(err.Error()).NotTo(ContainSubstring("s3cret"))
		})

		It("serves an admin over TLS, credentials on every call", func(ctx SpecContext) {
			store := open(ctx, srv.UserURL("admin", "changeit"), fast)
			e := newEvent()
			appendEventually(ctx, store, prefix+"1", eventstore.NoStream, e)
			f := followInBackground(store, 0, prefix)
			Eventually(ctx, f.ids).Should(Equal([]uuid.UUID{e.ID}))
			for _, r := range srv.Requests() {
				if strings.HasPrefix(r.Method, "/event_store.client.streams.") {
					Expect(r.User).To(Equal("admin"))
				}
			}
		})

		It("warns that credentials without TLS are dropped", func(ctx SpecContext) {
			plain := startWith(esdbtest.Options{})
			var (
				mu   sync.Mutex
				logs bytes.Buffer
			)
			h := slog.NewTextHandler(&lockedWriter{mu: &mu, w: &logs}, nil)
			open(ctx, plain.UserURL("admin", "changeit"), esdb.WithLogger(slog.New(h)))

			mu.Lock()
			defer mu.Unlock()
			Expect(logs.String()).To(ContainSubstring("credentials are not sent without TLS"))
			Expect(logs.String()).NotTo(ContainSubstring("changeit"))
			for _, r := range plain.Requests() {
				Expect(r.User).To(BeEmpty())
			}
		})
	})
})

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
