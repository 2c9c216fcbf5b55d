package esdbtest_test

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/eventstore/esdbtest"
)

// The emulator's behaviour, pinned with the real v4 client.
var _ = Describe("Server", func() {
	var (
		srv    *esdbtest.Server
		client *esdb.Client
		stream string
	)

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

	BeforeEach(func() {
		var err error
		srv, err = esdbtest.Start(esdbtest.Options{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(srv.Stop)
		client = newClient(srv.URL())
		stream = "order-" + uuid.NewString()
	})

	event := func(typ string) esdb.EventData {
		return esdb.EventData{EventID: uuid.New(), EventType: typ, ContentType: esdb.ContentTypeJson,
			Data: []byte(`{"a":1}`), Metadata: []byte(`{"actor":"spec"}`)}
	}

	appendN := func(ctx context.Context, name string, n int) []esdb.EventData {
		GinkgoHelper()
		events := make([]esdb.EventData, n)
		for i := range events {
			events[i] = event("spec.happened.v1")
		}
		_, err := client.AppendToStream(ctx, name, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Any{}}, events...)
		Expect(err).NotTo(HaveOccurred())
		return events
	}

	readStream := func(ctx context.Context, opts esdb.ReadStreamOptions, count uint64) ([]*esdb.RecordedEvent, error) {
		rs, err := client.ReadStream(ctx, stream, opts, count)
		if err != nil {
			return nil, err
		}
		defer rs.Close()
		var out []*esdb.RecordedEvent
		for {
			e, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			if err != nil {
				return out, err
			}
			out = append(out, e.Event)
		}
	}

	revisions := func(events []*esdb.RecordedEvent) []uint64 {
		out := make([]uint64, len(events))
		for i, e := range events {
			out[i] = e.EventNumber
		}
		return out
	}

	code := func(err error) esdb.ErrorCode {
		var e *esdb.Error
		Expect(errors.As(err, &e)).To(BeTrue(), "%v is not an *esdb.Error", err)
		return e.Code()
	}

	Context("appending", func() {
		It("records type, content type, data, custom metadata, id and a created time", func(ctx SpecContext) {
			sent := appendN(ctx, stream, 1)[0]

			got, err := readStream(ctx, esdb.ReadStreamOptions{}, 10)

			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(HaveLen(1))
			Expect(got[0].EventID).To(Equal(sent.EventID))
			Expect(got[0].EventType).To(Equal("spec.happened.v1"))
			Expect(got[0].ContentType).To(Equal("application/json"))
			Expect(got[0].Data).To(Equal(sent.Data))
			Expect(got[0].UserMetadata).To(Equal(sent.Metadata))
			Expect(got[0].CreatedDate).To(BeTemporally("~", time.Now(), time.Minute))
			Expect(got[0].Position.Commit).To(BeNumerically(">", 0))
		})

		It("answers a wrong expected revision with ErrorCodeWrongExpectedVersion and writes nothing", func(ctx SpecContext) {
			appendN(ctx, stream, 2)

			for _, exp := range []esdb.ExpectedRevision{esdb.NoStream{}, esdb.Revision(0), esdb.Revision(5)} {
				_, err := client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: exp}, event("spec.late.v1"))
				Expect(code(err)).To(Equal(esdb.ErrorCodeWrongExpectedVersion))
			}
			Expect(readStream(ctx, esdb.ReadStreamOptions{}, 10)).To(HaveLen(2))
		})

		It("treats the same ids at the same expected revision as a retry: success, nothing written", func(ctx SpecContext) {
			events := []esdb.EventData{event("spec.a.v1"), event("spec.b.v1")}
			first, err := client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, events...)
			Expect(err).NotTo(HaveOccurred())
			Expect(first.NextExpectedVersion).To(Equal(uint64(1)))

			again, err := client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, events...)

			Expect(err).NotTo(HaveOccurred())
			Expect(again).To(Equal(first))
			Expect(readStream(ctx, esdb.ReadStreamOptions{}, 10)).To(HaveLen(2))
		})

		It("gives every event its own position, increasing in commit order", func(ctx SpecContext) {
			appendN(ctx, stream, 3)
			res, err := client.AppendToStream(ctx, "other-"+stream, esdb.AppendToStreamOptions{}, event("spec.c.v1"))
			Expect(err).NotTo(HaveOccurred())

			got, err := readStream(ctx, esdb.ReadStreamOptions{}, 10)
			Expect(err).NotTo(HaveOccurred())
			Expect(got[0].Position.Commit).To(BeNumerically("<", got[1].Position.Commit))
			Expect(got[1].Position.Commit).To(BeNumerically("<", got[2].Position.Commit))
			Expect(got[2].Position.Commit).To(BeNumerically("<", res.CommitPosition))
			Expect(got[2].Position.Prepare).To(Equal(got[2].Position.Commit))
		})
	})

	Context("reading a stream", func() {
		BeforeEach(func(ctx SpecContext) { appendN(ctx, stream, 5) })

		DescribeTable("reads inclusively from where it is asked, in either direction",
			func(ctx SpecContext, opts esdb.ReadStreamOptions, count uint64, want []uint64) {
				got, err := readStream(ctx, opts, count)
				Expect(err).NotTo(HaveOccurred())
				Expect(revisions(got)).To(Equal(want))
			},
			Entry("forwards from the start", esdb.ReadStreamOptions{}, uint64(10), []uint64{0, 1, 2, 3, 4}),
			Entry("forwards from revision 2", esdb.ReadStreamOptions{From: esdb.Revision(2)}, uint64(10), []uint64{2, 3, 4}),
			Entry("forwards, at most 2", esdb.ReadStreamOptions{}, uint64(2), []uint64{0, 1}),
			Entry("backwards from the end", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, uint64(10), []uint64{4, 3, 2, 1, 0}),
			Entry("backwards from revision 1", esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.Revision(1)}, uint64(10), []uint64{1, 0}),
		)

		It("answers an unknown stream with ErrorCodeResourceNotFound", func(ctx SpecContext) {
			stream = "unknown-" + stream
			_, err := readStream(ctx, esdb.ReadStreamOptions{}, 10)
			Expect(code(err)).To(Equal(esdb.ErrorCodeResourceNotFound))
		})

		It("hides a soft-deleted stream and lets it continue where it left off", func(ctx SpecContext) {
			_, err := client.DeleteStream(ctx, stream, esdb.DeleteStreamOptions{ExpectedRevision: esdb.Revision(4)})
			Expect(err).NotTo(HaveOccurred())
			_, err = readStream(ctx, esdb.ReadStreamOptions{}, 10)
			Expect(code(err)).To(Equal(esdb.ErrorCodeResourceNotFound))

			_, err = client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.Revision(4)}, event("spec.again.v1"))
			Expect(err).NotTo(HaveOccurred())
			got, err := readStream(ctx, esdb.ReadStreamOptions{}, 10)
			Expect(err).NotTo(HaveOccurred())
			Expect(revisions(got)).To(Equal([]uint64{5}))
		})

		It("answers a tombstoned stream with ErrorCodeStreamDeleted, for reads and appends", func(ctx SpecContext) {
			_, err := client.TombstoneStream(ctx, stream, esdb.TombstoneStreamOptions{ExpectedRevision: esdb.Any{}})
			Expect(err).NotTo(HaveOccurred())

			_, err = readStream(ctx, esdb.ReadStreamOptions{}, 10)
			Expect(code(err)).To(Equal(esdb.ErrorCodeStreamDeleted))
			_, err = client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, event("spec.zombie.v1"))
			Expect(code(err)).To(Equal(esdb.ErrorCodeStreamDeleted))
		})
	})

	Context("reading $all", func() {
		It("reads forwards inclusively from a position, and backwards", func(ctx SpecContext) {
			appendN(ctx, stream, 3)
			got, err := readStream(ctx, esdb.ReadStreamOptions{}, 10)
			Expect(err).NotTo(HaveOccurred())

			rs, err := client.ReadAll(ctx, esdb.ReadAllOptions{From: got[1].Position}, 2)
			Expect(err).NotTo(HaveOccurred())
			defer rs.Close()
			var ids []uuid.UUID
			for {
				e, err := rs.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				Expect(err).NotTo(HaveOccurred())
				ids = append(ids, e.Event.EventID)
			}
			Expect(ids).To(Equal([]uuid.UUID{got[1].EventID, got[2].EventID}))

			back, err := client.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
			Expect(err).NotTo(HaveOccurred())
			defer back.Close()
			last, err := back.Recv()
			Expect(err).NotTo(HaveOccurred())
			Expect(last.Event.EventID).To(Equal(got[2].EventID))
		})
	})

	Context("subscribing", func() {
		// next receives the next event (skipping caught-up and checkpoint messages).
		next := func(sub *esdb.Subscription) *esdb.RecordedEvent {
			GinkgoHelper()
			for {
				m := sub.Recv()
				Expect(m.SubscriptionDropped).To(BeNil())
				if m.EventAppeared != nil {
					return m.EventAppeared.Event
				}
			}
		}

		It("to a stream: exclusive of its start, stored events, caught-up, then live ones", func(ctx SpecContext) {
			appendN(ctx, stream, 3)
			sub, err := client.SubscribeToStream(ctx, stream, esdb.SubscribeToStreamOptions{From: esdb.Revision(0)})
			Expect(err).NotTo(HaveOccurred())
			defer sub.Close()

			Expect(next(sub).EventNumber).To(Equal(uint64(1)))
			Expect(next(sub).EventNumber).To(Equal(uint64(2)))
			Expect(sub.Recv().CaughtUp).NotTo(BeNil())
			appendN(ctx, stream, 1)
			Expect(next(sub).EventNumber).To(Equal(uint64(3)))
		})

		It("to $all with a stream prefix filter: only matching streams, exclusive of the position, with checkpoints", func(ctx SpecContext) {
			start := appendN(ctx, "start-"+stream, 1)
			startEvents, err := client.ReadStream(ctx, "start-"+stream, esdb.ReadStreamOptions{}, 1)
			Expect(err).NotTo(HaveOccurred())
			first, err := startEvents.Recv()
			Expect(err).NotTo(HaveOccurred())
			Expect(first.Event.EventID).To(Equal(start[0].EventID))
			startEvents.Close()
			for range 40 {
				appendN(ctx, "noise-"+stream, 1)
			}
			want := appendN(ctx, "pay-"+stream, 2)

			sub, err := client.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: first.Event.Position,
				Filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{"pay-" + stream}}})
			Expect(err).NotTo(HaveOccurred())
			defer sub.Close()

			var checkpoints int
			var got []uuid.UUID
			for len(got) < 2 {
				m := sub.Recv()
				Expect(m.SubscriptionDropped).To(BeNil())
				if m.CheckPointReached != nil {
					checkpoints++
				}
				if m.EventAppeared != nil {
					got = append(got, m.EventAppeared.Event.EventID)
				}
			}
			Expect(got).To(Equal([]uuid.UUID{want[0].EventID, want[1].EventID}))
			Expect(checkpoints).To(BeNumerically(">=", 1), "40 filtered-out events exceed the 32-event window")
		})

		It("to $all with an event-type regex filter", func(ctx SpecContext) {
			appendN(ctx, stream, 2)
			wanted := event("spec.wanted.v1")
			_, err := client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, wanted)
			Expect(err).NotTo(HaveOccurred())

			sub, err := client.SubscribeToAll(ctx, esdb.SubscribeToAllOptions{From: esdb.Start{},
				Filter: &esdb.SubscriptionFilter{Type: esdb.EventFilterType, Regex: `^spec\.wanted\.`}})
			Expect(err).NotTo(HaveOccurred())
			defer sub.Close()

			Expect(next(sub).EventID).To(Equal(wanted.EventID))
		})
	})

	Context("with faults injected", func() {
		It("answers Unavailable while unavailable, then serves again", func(ctx SpecContext) {
			appendN(ctx, stream, 1)
			srv.SetUnavailable(true)

			_, err := client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, event("spec.x.v1"))
			Expect(code(err)).To(Equal(esdb.ErrorUnavailable))

			srv.SetUnavailable(false)
			fresh := newClient(srv.URL())
			_, err = fresh.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, event("spec.x.v1"))
			Expect(err).NotTo(HaveOccurred())
		})

		It("keeps its data and address across a restart, and ends subscriptions", func(ctx SpecContext) {
			appendN(ctx, stream, 2)
			sub, err := client.SubscribeToStream(ctx, stream, esdb.SubscribeToStreamOptions{From: esdb.Start{}})
			Expect(err).NotTo(HaveOccurred())
			defer sub.Close()
			addr := srv.Addr()

			Expect(srv.Restart()).To(Succeed())

			Eventually(ctx, func() *esdb.SubscriptionDropped {
				for {
					if m := sub.Recv(); m.SubscriptionDropped != nil {
						return m.SubscriptionDropped
					}
				}
			}).ShouldNot(BeNil())
			Expect(srv.Addr()).To(Equal(addr))
			fresh := newClient(srv.URL())
			rs, err := fresh.ReadStream(ctx, stream, esdb.ReadStreamOptions{}, 10)
			Expect(err).NotTo(HaveOccurred())
			defer rs.Close()
			n := 0
			for {
				if _, err := rs.Recv(); errors.Is(err, io.EOF) {
					break
				}
				n++
			}
			Expect(n).To(Equal(2))
		})

		It("drops connections on request; the client reconnects", func(ctx SpecContext) {
			appendN(ctx, stream, 1)
			srv.DropConnections()
			Eventually(ctx, func() error {
				_, err := client.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{}, event("spec.y.v1"))
				return err
			}).Should(Succeed())
		})
	})

	Context("found by gossip (esdb+discover://)", func() {
		It("serves the client through the leader it announces", func(ctx SpecContext) {
			c := newClient(srv.DiscoverURL())
			_, err := c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}, event("spec.z.v1"))
			Expect(err).NotTo(HaveOccurred())
		})
	})
})
