package esdbtest_test

import (
	"context"
	"errors"
	"io"
	"math"
	"strings"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/paystream/paystream/eventstore/esdbtest"
)

// Real-server behaviours the emulator reproduces, pinned with the real v4 client. The
// cases follow EventStoreDB's own tests where they exist (named in each Describe).
var _ = Describe("Server modes", func() {
	newClient := func(url string) *esdb.Client {
		GinkgoHelper()
		conf, err := esdb.ParseConnectionString(url)
		Expect(err).NotTo(HaveOccurred())
		conf.Logger = esdb.NoopLogging()
		c, err := esdb.NewClient(conf)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(c.Close)
		return c
	}
	start := func(opts esdbtest.Options) *esdbtest.Server {
		GinkgoHelper()
		srv, err := esdbtest.Start(opts)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(srv.Stop)
		return srv
	}
	event := func() esdb.EventData {
		return esdb.EventData{EventID: uuid.New(), EventType: "spec.happened.v1", ContentType: esdb.ContentTypeJson, Data: []byte(`{}`)}
	}
	code := func(err error) esdb.ErrorCode {
		GinkgoHelper()
		var e *esdb.Error
		Expect(errors.As(err, &e)).To(BeTrue(), "%v is not an *esdb.Error", err)
		return e.Code()
	}
	grpcCode := func(err error) codes.Code {
		GinkgoHelper()
		var e *esdb.Error
		Expect(errors.As(err, &e)).To(BeTrue(), "%v is not an *esdb.Error", err)
		return status.Code(e.Err())
	}
	leader := func(ctx context.Context) context.Context {
		return metadata.AppendToOutgoingContext(ctx, "requires-leader", "true")
	}
	count := func(ctx context.Context, c *esdb.Client, stream string) int {
		GinkgoHelper()
		rs, err := c.ReadStream(ctx, stream, esdb.ReadStreamOptions{}, 100)
		Expect(err).NotTo(HaveOccurred())
		defer rs.Close()
		n := 0
		for {
			_, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				return n
			}
			if err != nil {
				var e *esdb.Error
				if errors.As(err, &e) && e.Code() == esdb.ErrorCodeResourceNotFound {
					return 0
				}
				Expect(err).NotTo(HaveOccurred())
			}
			n++
		}
	}

	// Enumerator.AllSubscriptionFiltered.CombinationTests: a filtered $all subscription's
	// checkpoints never run ahead of the next event, and each event strictly advances them —
	// except on the versions with KDB-710 and KDB-744.
	Describe("filtered $all checkpoints, by server version", func() {
		type seen struct {
			checkpoints []esdb.Position
			events      []esdb.Position
		}
		// subscribe subscribes from the start with a filter that matches nothing stored,
		// waits for caught-up, appends n matching events and collects them.
		subscribe := func(ctx context.Context, version string, n int) seen {
			GinkgoHelper()
			srv := start(esdbtest.Options{ServerVersion: version})
			c := newClient(srv.URL())
			for range 3 {
				_, err := c.AppendToStream(ctx, "noise-"+uuid.NewString(), esdb.AppendToStreamOptions{}, event())
				Expect(err).NotTo(HaveOccurred())
			}
			sub, err := c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Start{},
				Filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{"pay-"}}})
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(sub.Close)
			var out seen
			for m := sub.Recv(); m.CaughtUp == nil; m = sub.Recv() {
				Expect(m.SubscriptionDropped).To(BeNil())
				if m.CheckPointReached != nil {
					out.checkpoints = append(out.checkpoints, *m.CheckPointReached)
				}
			}
			for range n {
				_, err := c.AppendToStream(ctx, "pay-"+uuid.NewString(), esdb.AppendToStreamOptions{}, event())
				Expect(err).NotTo(HaveOccurred())
			}
			for len(out.events) < n {
				m := sub.Recv()
				Expect(m.SubscriptionDropped).To(BeNil())
				if m.EventAppeared != nil {
					out.events = append(out.events, m.EventAppeared.OriginalEvent().Position)
				}
			}
			return out
		}

		DescribeTable("fixed versions: checkpoints stay below the next event",
			func(ctx SpecContext, version string) {
				got := subscribe(ctx, version, 3)
				for _, cp := range got.checkpoints {
					Expect(cp.Commit).To(BeNumerically("<", got.events[0].Commit))
					Expect(cp.Prepare).To(Equal(cp.Commit))
				}
			},
			Entry("23.10.0", "23.10.0"), Entry("24.10.5", "24.10.5"), Entry("25.0.1", "25.0.1"),
		)

		DescribeTable("KDB-710 (24.2.0–24.10.4): nothing matched during catch-up from the start → checkpoint (-1,-1), read as MaxUint64",
			func(ctx SpecContext, version string) {
				got := subscribe(ctx, version, 3)
				Expect(got.checkpoints).To(ContainElement(esdb.Position{Commit: math.MaxUint64, Prepare: math.MaxUint64}))
				Expect(got.events).To(HaveLen(3), "the server still sends the events")
			},
			Entry("24.2.0", "24.2.0"), Entry("24.10.0", "24.10.0"), Entry("24.10.4", "24.10.4"),
		)

		It("KDB-744 (25.0.0): going live sends (end of log, 0), the commit position of the next event", func(ctx SpecContext) {
			got := subscribe(ctx, "25.0.0", 3)
			Expect(got.checkpoints).NotTo(BeEmpty())
			last := got.checkpoints[len(got.checkpoints)-1]
			Expect(last.Prepare).To(BeZero())
			Expect(last.Commit).To(Equal(got.events[0].Commit))
		})
	})

	// Services/Storage/Idempotency: when_writing_a_second_event_after_the_first_event_has_
	// (not_yet_)been_replicated, and the batch variants.
	Describe("idempotent appends and replication", func() {
		var (
			srv *esdbtest.Server
			c   *esdb.Client
		)
		BeforeEach(func() {
			srv = start(esdbtest.Options{CommitTimeout: 150 * time.Millisecond})
			c = newClient(srv.URL())
		})

		DescribeTable("after the first write is replicated, the same ids at the same revision succeed without writing",
			func(ctx SpecContext, n int) {
				stream := "pay-" + uuid.NewString()
				events := make([]esdb.EventData, n)
				for i := range events {
					events[i] = event()
				}
				first, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, events...)
				Expect(err).NotTo(HaveOccurred())

				again, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, events...)

				Expect(err).NotTo(HaveOccurred())
				Expect(again).To(Equal(first))
				Expect(count(ctx, c, stream)).To(Equal(n))
			},
			Entry("one event", 1), Entry("a batch", 3),
		)

		DescribeTable("before it is replicated, the original times out (Aborted) yet lands, and a retry is refused with Aborted until it is replicated",
			func(ctx SpecContext, n int) {
				stream := "pay-" + uuid.NewString()
				events := make([]esdb.EventData, n)
				for i := range events {
					events[i] = event()
				}
				srv.SetReplicationDelay(time.Second)

				_, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, events...)
				Expect(code(err)).To(Equal(esdb.ErrorAborted), "commit timeout")
				_, err = c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, events...)
				Expect(code(err)).To(Equal(esdb.ErrorAborted), "IdempotentNotReady")
				_, err = c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, event())
				Expect(code(err)).To(Equal(esdb.ErrorCodeWrongExpectedVersion), "other ids see the pending write")
				Expect(count(ctx, c, stream)).To(BeZero(), "not visible before replication")

				srv.SetReplicationDelay(0)
				Eventually(ctx, func() error {
					_, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, events...)
					return err
				}).Should(Succeed())
				Expect(count(ctx, c, stream)).To(Equal(n))
			},
			Entry("one event", 1), Entry("a batch", 2),
		)
	})

	Describe("append size (MaxAppendSize, 1 MiB by default)", func() {
		It("refuses an append over the limit with InvalidArgument and writes nothing", func(ctx SpecContext) {
			srv := start(esdbtest.Options{})
			c := newClient(srv.URL())
			stream := "pay-" + uuid.NewString()
			big := event()
			big.Data = []byte(`"` + strings.Repeat("x", 1<<20) + `"`)

			_, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, big)

			Expect(grpcCode(err)).To(Equal(codes.InvalidArgument))
			Expect(count(ctx, c, stream)).To(BeZero())
		})

		It("accepts an append of exactly the limit, counting data, metadata and the type twice", func(ctx SpecContext) {
			srv := start(esdbtest.Options{MaxAppendSize: 1000})
			c := newClient(srv.URL())
			e := event()
			e.Metadata = []byte(`{}`)
			e.Data = make([]byte, 1000-len(e.Metadata)-2*len(e.EventType))
			_, err := c.AppendToStream(ctx, "pay-"+uuid.NewString(), esdb.AppendToStreamOptions{}, e)
			Expect(err).NotTo(HaveOccurred())
			e.EventID = uuid.New()
			e.Data = append(e.Data, 'x')
			_, err = c.AppendToStream(ctx, "pay-"+uuid.NewString(), esdb.AppendToStreamOptions{}, e)
			Expect(grpcCode(err)).To(Equal(codes.InvalidArgument))
		})

		// Not the server: the v4 client sends a fresh random id in place of a nil one, so a
		// retried append with a nil id is written twice. The adapter refuses nil ids.
		It("never sees a nil event id: the client replaces it with a random one, so retries are not recognised", func(ctx SpecContext) {
			c := newClient(start(esdbtest.Options{}).URL())
			stream := "pay-" + uuid.NewString()
			e := event()
			e.EventID = uuid.Nil
			for range 2 {
				_, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, e)
				Expect(err).NotTo(HaveOccurred())
			}
			Expect(count(ctx, c, stream)).To(Equal(2))
		})
	})

	Describe("lost replies", func() {
		DescribeTable("the append lands and the client sees the error",
			func(ctx SpecContext, lost codes.Code, want esdb.ErrorCode) {
				srv := start(esdbtest.Options{})
				c := newClient(srv.URL())
				stream := "pay-" + uuid.NewString()
				srv.LoseAppendReplies(lost)

				_, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, event())

				Expect(code(err)).To(Equal(want))
				Eventually(ctx, func() int { return count(ctx, c, stream) }).Should(Equal(1))
			},
			Entry("connection dropped", codes.Unavailable, esdb.ErrorUnavailable),
			Entry("deadline exceeded", codes.DeadlineExceeded, esdb.ErrorCodeDeadlineExceeded),
		)
	})

	Describe("a cluster (leader, followers, gossip)", func() {
		var cluster *esdbtest.Cluster
		BeforeEach(func() {
			var err error
			cluster, err = esdbtest.StartCluster(3, esdbtest.Options{}, 100*time.Millisecond)
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(cluster.Stop)
		})

		It("lets a follower serve reads and forward writes when the call does not require the leader", func(ctx SpecContext) {
			c := newClient(cluster.Follower().URL())
			stream := "pay-" + uuid.NewString()
			_, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, event())
			Expect(err).NotTo(HaveOccurred())
			Expect(count(ctx, c, stream)).To(Equal(1))
		})

		It("answers requires-leader on a follower with NotLeader naming the leader, and the client reconnects there", func(ctx SpecContext) {
			follower := cluster.Follower()
			c := newClient(follower.URL())
			stream := "pay-" + uuid.NewString()

			_, err := c.AppendToStream(leader(ctx), stream, esdb.AppendToStreamOptions{}, event())
			Expect(code(err)).To(Equal(esdb.ErrorCodeNotLeader))

			_, err = c.AppendToStream(leader(ctx), stream, esdb.AppendToStreamOptions{}, event())
			Expect(err).NotTo(HaveOccurred())
			reqs := cluster.Leader().Requests()
			Expect(reqs[len(reqs)-1].RequiresLeader).To(BeTrue())
		})

		It("gossips the leader, then, after it dies, not-ready survivors, then a new leader", func(ctx SpecContext) {
			c := newClient(cluster.URL())
			_, err := c.AppendToStream(leader(ctx), "pay-"+uuid.NewString(), esdb.AppendToStreamOptions{}, event())
			Expect(err).NotTo(HaveOccurred())
			old := cluster.KillLeader()
			survivor := cluster.Follower()
			if survivor == nil {
				survivor = cluster.Nodes()[1]
			}

			_, err = newClient(survivor.URL()).AppendToStream(ctx, "pay-"+uuid.NewString(), esdb.AppendToStreamOptions{}, event())
			if err != nil {
				Expect(code(err)).To(Equal(esdb.ErrorUnavailable), "not ready while electing")
			}
			Eventually(cluster.Leader).ShouldNot(BeNil())
			Expect(cluster.Leader()).NotTo(BeIdenticalTo(old))
			Eventually(ctx, func() error {
				_, err := newClient(cluster.URL()).AppendToStream(leader(ctx), "pay-"+uuid.NewString(), esdb.AppendToStreamOptions{}, event())
				return err
			}).Should(Succeed())
		})
	})

	Describe("not ready", func() {
		It("answers Unavailable \"Server Is Not Ready\"", func(ctx SpecContext) {
			srv := start(esdbtest.Options{})
			c := newClient(srv.URL())
			_, err := c.AppendToStream(ctx, "pay-"+uuid.NewString(), esdb.AppendToStreamOptions{}, event())
			Expect(err).NotTo(HaveOccurred())
			srv.SetNotReady(true)
			_, err = c.AppendToStream(ctx, "pay-"+uuid.NewString(), esdb.AppendToStreamOptions{}, event())
			Expect(code(err)).To(Equal(esdb.ErrorUnavailable))
		})
	})

	Describe("access control over TLS", func() {
		var srv *esdbtest.Server
		BeforeEach(func() {
			srv = start(esdbtest.Options{TLS: true, Users: map[string]string{"admin": "changeit", "ops": "s3cret"}, Admins: []string{"admin"}})
		})

		It("denies $all to a user outside $admins, allows user streams, and records who called", func(ctx SpecContext) {
			c := newClient(srv.UserURL("ops", "s3cret"))
			_, err := c.AppendToStream(ctx, "pay-"+uuid.NewString(), esdb.AppendToStreamOptions{}, event())
			Expect(err).NotTo(HaveOccurred())

			_, err = c.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{Filter: esdb.ExcludeSystemEventsFilter()})
			Expect(code(err)).To(Equal(esdb.ErrorCodeAccessDenied))
			reqs := srv.Requests()
			Expect(reqs[len(reqs)-1].User).To(Equal("ops"))
		})

		It("lets an admin read $all", func(ctx SpecContext) {
			c := newClient(srv.UserURL("admin", "changeit"))
			rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{}, 1)
			Expect(err).NotTo(HaveOccurred())
			defer rs.Close()
			_, err = rs.Recv()
			Expect(err).To(Or(MatchError(io.EOF), Not(HaveOccurred())))
		})

		It("refuses wrong credentials", func(ctx SpecContext) {
			c := newClient(srv.UserURL("ops", "wrong"))
			_, err := c.AppendToStream(ctx, "pay-"+uuid.NewString(), esdb.AppendToStreamOptions{}, event())
			Expect(code(err)).To(Equal(esdb.ErrorCodeUnauthenticated))
		})

		It("gets no credentials from a client without TLS (the client drops them)", func(ctx SpecContext) {
			plain := start(esdbtest.Options{Users: map[string]string{"admin": "changeit"}, Admins: []string{"admin"}})
			c := newClient(plain.UserURL("admin", "changeit"))
			_, err := c.AppendToStream(ctx, "pay-"+uuid.NewString(), esdb.AppendToStreamOptions{}, event())
			Expect(err).NotTo(HaveOccurred())
			reqs := plain.Requests()
			Expect(reqs[len(reqs)-1].User).To(BeEmpty())
			Expect(reqs[len(reqs)-1].Header.Get("authorization")).To(BeEmpty())
		})
	})
})
