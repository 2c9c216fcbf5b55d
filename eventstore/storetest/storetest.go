package storetest

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/eventstore"
)

// Factory opens the store one spec runs against and returns it with a cleanup that
// releases it (nil if there is nothing to release). ctx lives only as long as the opening.
// A factory may use Gomega assertions; the store need not be empty (see the package doc).
type Factory func(ctx context.Context) (eventstore.Store, func())

// Describe registers the conformance specs under name, each against a store from
// newStore. Call it at the top level of a Ginkgo suite: var _ = storetest.Describe(…).
func Describe(name string, newStore Factory) bool {
	return ginkgo.Describe(name, func() {
		var (
			store eventstore.Store
			r     *run
		)

		ginkgo.BeforeEach(func(ctx ginkgo.SpecContext) {
			var cleanup func()
			store, cleanup = newStore(ctx)
			if cleanup != nil {
				ginkgo.DeferCleanup(cleanup)
			}
			r = newRun()
		})

		// appendOK appends and fails the spec on any error.
		appendOK := func(ctx context.Context, stream string, expected eventstore.Revision, events ...eventstore.Event) eventstore.AppendResult {
			ginkgo.GinkgoHelper()
			res, err := store.Append(ctx, stream, expected, events)
			Expect(err).NotTo(HaveOccurred())
			return res
		}

		read := func(ctx context.Context, stream string) []eventstore.RecordedEvent {
			ginkgo.GinkgoHelper()
			events, err := store.ReadStream(ctx, stream)
			Expect(err).NotTo(HaveOccurred())
			return events
		}

		ginkgo.Context("reading a stream", func() {
			ginkgo.It("returns no events and no error for an unknown stream", func(ctx ginkgo.SpecContext) {
				Expect(read(ctx, r.stream("payment"))).To(BeEmpty())
			})
		})

		ginkgo.Context("appending to a new stream", func() {
			ginkgo.It("accepts NoStream and records the first event at revision 0", func(ctx ginkgo.SpecContext) {
				stream := r.stream("payment")
				e := newEvent("storetest.checkout-created.v1")

				res := appendOK(ctx, stream, eventstore.NoStream, e)

				Expect(res.Revision).To(Equal(eventstore.Revision(0)))
				got := read(ctx, stream)
				Expect(got).To(HaveLen(1))
				Expect(got[0].Stream).To(Equal(stream))
				Expect(got[0].Revision).To(Equal(eventstore.Revision(0)))
				Expect(got[0].ID).To(Equal(e.ID))
				Expect(got[0].Position).To(Equal(res.Position))
			})

			ginkgo.It("numbers revisions 0..n across appends at the exact expected revision", func(ctx ginkgo.SpecContext) {
				stream := r.stream("payment")
				appended := newEvents(5)

				for i, e := range appended {
					res := appendOK(ctx, stream, eventstore.Revision(i)-1, e)
					Expect(res.Revision).To(Equal(eventstore.Revision(i)))
				}

				got := read(ctx, stream)
				Expect(ids(got)).To(Equal(eventIDs(appended)))
				for i, e := range got {
					Expect(e.Revision).To(Equal(eventstore.Revision(i)))
				}
			})

			ginkgo.It("records the events of one append together, at consecutive revisions", func(ctx ginkgo.SpecContext) {
				stream := r.stream("payment")
				appendOK(ctx, stream, eventstore.NoStream, newEvent("storetest.checkout-created.v1"))
				batch := newEvents(4)

				res := appendOK(ctx, stream, 0, batch...)

				Expect(res.Revision).To(Equal(eventstore.Revision(4)))
				got := read(ctx, stream)
				Expect(got).To(HaveLen(5))
				Expect(ids(got[1:])).To(Equal(eventIDs(batch)))
				for i, e := range got {
					Expect(e.Revision).To(Equal(eventstore.Revision(i)))
				}
				expectStrictlyIncreasing(positions(got))
				Expect(got[4].Position).To(Equal(res.Position))
			})
		})

		ginkgo.Context("at the wrong expected revision", func() {
			var stream string
			var existing []eventstore.Event

			ginkgo.BeforeEach(func(ctx ginkgo.SpecContext) {
				stream = r.stream("payment")
				existing = newEvents(3)
				appendOK(ctx, stream, eventstore.NoStream, existing...)
			})

			ginkgo.DescribeTable("fails with ErrConcurrency and writes nothing",
				func(ctx ginkgo.SpecContext, expected eventstore.Revision, n int) {
					_, err := store.Append(ctx, stream, expected, newEvents(n))

					Expect(err).To(MatchError(eventstore.ErrConcurrency))
					Expect(ids(read(ctx, stream))).To(Equal(eventIDs(existing)))
				},
				ginkgo.Entry("a stale revision", eventstore.Revision(1), 1),
				ginkgo.Entry("a revision ahead of the stream", eventstore.Revision(5), 1),
				ginkgo.Entry("NoStream on an existing stream", eventstore.NoStream, 1),
				ginkgo.Entry("a stale revision, for every event of a multi-event append", eventstore.Revision(0), 3),
			)
		})

		ginkgo.Context("retrying an append", func() {
			var (
				stream   string
				original []eventstore.Event
				first    eventstore.AppendResult
			)

			ginkgo.BeforeEach(func(ctx ginkgo.SpecContext) {
				stream = r.stream("payment")
				appendOK(ctx, stream, eventstore.NoStream, newEvent("storetest.checkout-created.v1"))
				original = newEvents(2)
				first = appendOK(ctx, stream, 0, original...)
			})

			ginkgo.It("succeeds without writing twice and reports the original result when the ids match", func(ctx ginkgo.SpecContext) {
				again := appendOK(ctx, stream, 0, original...)

				Expect(again).To(Equal(first))
				Expect(read(ctx, stream)).To(HaveLen(3))
			})

			ginkgo.It("still succeeds without writing after the stream moved on", func(ctx ginkgo.SpecContext) {
				appendOK(ctx, stream, 2, newEvent("storetest.later.v1"))

				again := appendOK(ctx, stream, 0, original...)

				Expect(again).To(Equal(first))
				Expect(read(ctx, stream)).To(HaveLen(4))
			})

			ginkgo.It("succeeds for a leading part of what was written", func(ctx ginkgo.SpecContext) {
				again := appendOK(ctx, stream, 0, original[0])

				Expect(again.Revision).To(Equal(eventstore.Revision(1)))
				Expect(again.Position).To(Equal(read(ctx, stream)[1].Position))
				Expect(read(ctx, stream)).To(HaveLen(3))
			})

			ginkgo.DescribeTable("fails with ErrConcurrency unless every id matches",
				func(ctx ginkgo.SpecContext, retry func() []eventstore.Event) {
					_, err := store.Append(ctx, stream, 0, retry())

					Expect(err).To(MatchError(eventstore.ErrConcurrency))
					Expect(read(ctx, stream)).To(HaveLen(3))
				},
				ginkgo.Entry("different ids", func() []eventstore.Event { return newEvents(2) }),
				ginkgo.Entry("one id of two replaced", func() []eventstore.Event {
					return []eventstore.Event{original[0], newEvent("storetest.happened.v1")}
				}),
				ginkgo.Entry("the same ids plus a new one", func() []eventstore.Event {
					return append(slices.Clone(original), newEvent("storetest.happened.v1"))
				}),
				ginkgo.Entry("the same ids in another order", func() []eventstore.Event {
					return []eventstore.Event{original[1], original[0]}
				}),
			)
		})

		ginkgo.Context("with 50 concurrent appenders at the same revision", func() {
			ginkgo.It("lets exactly one win and fails the rest with ErrConcurrency", func(ctx ginkgo.SpecContext) {
				stream := r.stream("payment")
				appendOK(ctx, stream, eventstore.NoStream, newEvent("storetest.checkout-created.v1"))
				const appenders = 50
				attempts := make([]eventstore.Event, appenders)
				errs := make([]error, appenders)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range appenders {
					attempts[i] = newEvent("storetest.execution-started.v1")
					wg.Go(func() {
						<-start
						_, errs[i] = store.Append(ctx, stream, 0, attempts[i:i+1])
					})
				}

				close(start)
				wg.Wait()

				var winners []uuid.UUID
				for i, err := range errs {
					if err == nil {
						winners = append(winners, attempts[i].ID)
						continue
					}
					Expect(err).To(MatchError(eventstore.ErrConcurrency))
				}
				Expect(winners).To(HaveLen(1))
				got := read(ctx, stream)
				Expect(got).To(HaveLen(2))
				Expect(got[1].ID).To(Equal(winners[0]))
			})
		})

		ginkgo.Context("with a malformed append", func() {
			type appendCall struct {
				stream   string
				expected eventstore.Revision
				events   []eventstore.Event
			}

			ginkgo.DescribeTable("fails with ErrInvalidAppend and writes nothing",
				func(ctx ginkgo.SpecContext, malform func(*appendCall)) {
					stream := r.stream("payment")
					call := appendCall{stream: stream, expected: eventstore.NoStream, events: newEvents(1)}
					malform(&call)

					_, err := store.Append(ctx, call.stream, call.expected, call.events)

					Expect(err).To(MatchError(eventstore.ErrInvalidAppend))
					Expect(read(ctx, stream)).To(BeEmpty())
				},
				ginkgo.Entry("no events", func(c *appendCall) { c.events = nil }),
				ginkgo.Entry("an event without a type", func(c *appendCall) {
					c.events = append(c.events, eventstore.Event{ID: uuid.New(), Data: []byte(`{}`)})
				}),
				ginkgo.Entry("an empty stream name", func(c *appendCall) { c.stream = "" }),
				ginkgo.Entry("an expected revision below NoStream", func(c *appendCall) { c.expected = eventstore.NoStream - 1 }),
				ginkgo.Entry("an event with a nil id", func(c *appendCall) {
					c.events = append(c.events, eventstore.Event{Type: "storetest.happened.v1", Data: []byte(`{}`)})
				}),
			)

			// Names the spec cannot read back afterwards (they are refused), so it checks the
			// refusal and that the same rules as eventstore.ValidateAppend apply.
			ginkgo.DescribeTable("refuses the stream names every store refuses",
				func(ctx ginkgo.SpecContext, name func(r *run) string) {
					stream := name(r)
					_, err := store.Append(ctx, stream, eventstore.NoStream, newEvents(1))

					Expect(err).To(MatchError(eventstore.ErrInvalidAppend))
					Expect(eventstore.ValidateAppend(stream, eventstore.NoStream, newEvents(1))).To(MatchError(eventstore.ErrInvalidAppend))
				},
				ginkgo.Entry("a system stream name ($…)", func(r *run) string { return "$" + r.stream("payment") }),
				ginkgo.Entry("a stream metadata name ($$…)", func(r *run) string { return "$$" + r.stream("payment") }),
				ginkgo.Entry("a name that is not UTF-8", func(r *run) string { return r.stream("payment") + "\xff" }),
			)

			ginkgo.It("accepts any other name, as ValidateAppend does", func(ctx ginkgo.SpecContext) {
				for _, kind := range []string{"payment", "결제", "a$b", "with space", "tab\tand-dash"} {
					stream := r.stream(kind)
					Expect(eventstore.ValidateAppend(stream, eventstore.NoStream, newEvents(1))).To(Succeed())
					appendOK(ctx, stream, eventstore.NoStream, newEvent("storetest.happened.v1"))
					Expect(read(ctx, stream)).To(HaveLen(1))
				}
			})
		})

		ginkgo.Context("positions", func() {
			ginkgo.It("are above zero and strictly increase in commit order, across streams", func(ctx ginkgo.SpecContext) {
				a, b := r.stream("payment"), r.stream("payment")
				var results []eventstore.AppendResult
				results = append(results, appendOK(ctx, a, eventstore.NoStream, newEvents(2)...))
				results = append(results, appendOK(ctx, b, eventstore.NoStream, newEvents(1)...))
				results = append(results, appendOK(ctx, a, 1, newEvents(3)...))
				results = append(results, appendOK(ctx, b, 0, newEvents(1)...))

				var last []eventstore.Position
				for _, res := range results {
					last = append(last, res.Position)
				}
				expectStrictlyIncreasing(last)

				all := append(read(ctx, a), read(ctx, b)...)
				slices.SortFunc(all, byPosition)
				expectStrictlyIncreasing(positions(all))
				Expect(read(ctx, a)[1].Position).To(Equal(results[0].Position))
				Expect(read(ctx, a)[4].Position).To(Equal(results[2].Position))
			})
		})

		ginkgo.Context("recorded events", func() {
			ginkgo.It("round-trip id, type, data and metadata byte for byte", func(ctx ginkgo.SpecContext) {
				stream := r.stream("payment")
				sent := []eventstore.Event{
					{
						ID:       uuid.NewSHA1(uuid.NameSpaceURL, []byte(stream+"/0")),
						Type:     "storetest.checkout-created.v1",
						Data:     []byte(`{"amount":"15000","memo":"결제 ✓ \u00e9","nested":{"a":[1,2,3]},"esc":"\"\\\n"}`),
						Metadata: []byte(`{"correlation_id":"7d1c…","actor":"점원"}`),
					},
					{ID: uuid.New(), Type: "storetest.empty.v1", Data: []byte(`{}`)},
				}
				appendOK(ctx, stream, eventstore.NoStream, sent...)

				got := read(ctx, stream)

				Expect(got).To(HaveLen(2))
				for i, e := range got {
					Expect(e.ID).To(Equal(sent[i].ID))
					Expect(e.Type).To(Equal(sent[i].Type))
					Expect(string(e.Data)).To(Equal(string(sent[i].Data)))
					Expect(string(e.Metadata)).To(Equal(string(sent[i].Metadata)))
				}
			})

			ginkgo.It("carry the time the store recorded them, in UTC", func(ctx ginkgo.SpecContext) {
				stream := r.stream("payment")
				appendOK(ctx, stream, eventstore.NoStream, newEvents(2)...)

				for _, e := range read(ctx, stream) {
					Expect(e.RecordedAt.IsZero()).To(BeFalse())
					Expect(e.RecordedAt.Location()).To(Equal(time.UTC))
					// Loose: a real server's clock is not this machine's.
					Expect(e.RecordedAt).To(BeTemporally("~", time.Now(), 5*time.Minute))
				}
			})

			// Readers may share the recorded bytes (eventstore.RecordedEvent): they never
			// write into them, so only the appender's slices are checked here.
			ginkgo.It("share no bytes with the appender's slices", func(ctx ginkgo.SpecContext) {
				stream := r.stream("payment")
				e := newEvent("storetest.checkout-created.v1")
				data, meta := string(e.Data), string(e.Metadata)
				appendOK(ctx, stream, eventstore.NoStream, e)
				clear(e.Data)
				clear(e.Metadata)

				for range 2 {
					got := read(ctx, stream)
					Expect(string(got[0].Data)).To(Equal(data))
					Expect(string(got[0].Metadata)).To(Equal(meta))
				}
			})
		})

		ginkgo.Context("following", func() {
			ginkgo.It("delivers every stored event from position 0, in position order, as ReadStream returns it", func(ctx ginkgo.SpecContext) {
				a, b := r.stream("payment"), r.stream("payment")
				appendOK(ctx, a, eventstore.NoStream, newEvents(2)...)
				appendOK(ctx, b, eventstore.NoStream, newEvents(1)...)
				appendOK(ctx, a, 1, newEvents(3)...)
				want := append(read(ctx, a), read(ctx, b)...)
				slices.SortFunc(want, byPosition)

				f := follow(store, 0, r.prefix("payment"), nil)
				got := fence(ctx, store, f, r.stream("payment"))

				Expect(got).To(Equal(want))
			})

			ginkgo.It("delivers only events after the given position", func(ctx ginkgo.SpecContext) {
				stream := r.stream("payment")
				appended := newEvents(3)
				appendOK(ctx, stream, eventstore.NoStream, appended...)
				second := read(ctx, stream)[1].Position

				f := follow(store, second, r.prefix("payment"), nil)
				got := fence(ctx, store, f, r.stream("payment"))

				Expect(ids(got)).To(Equal(eventIDs(appended[2:])))
			})

			ginkgo.It("delivers only the streams whose names start with the prefix", func(ctx ginkgo.SpecContext) {
				pay1, idem, pay2 := r.stream("payment"), r.stream("idem"), r.stream("payment")
				p1 := appendOK(ctx, pay1, eventstore.NoStream, newEvent("storetest.checkout-created.v1"))
				appendOK(ctx, idem, eventstore.NoStream, newEvent("storetest.key-claimed.v1"))
				appendOK(ctx, pay2, eventstore.NoStream, newEvent("storetest.checkout-created.v1"))
				appendOK(ctx, idem, 0, newEvent("storetest.key-released.v1"))
				start := p1.Position - 1

				payments := follow(store, start, r.prefix("payment"), nil)
				keys := follow(store, start, r.prefix("idem"), nil)

				gotPayments := fence(ctx, store, payments, r.stream("payment"))
				gotKeys := fence(ctx, store, keys, r.stream("idem"))
				Expect(streams(gotPayments)).To(Equal([]string{pay1, pay2}))
				Expect(streams(gotKeys)).To(Equal([]string{idem, idem}))
			})

			ginkgo.It("delivers every stream when the prefix is empty", func(ctx ginkgo.SpecContext) {
				startMarker := appendOK(ctx, r.stream("start"), eventstore.NoStream, newEvent("storetest.start.v1"))
				pay, idem := r.stream("payment"), r.stream("idem")
				appendOK(ctx, pay, eventstore.NoStream, newEvent("storetest.checkout-created.v1"))
				appendOK(ctx, idem, eventstore.NoStream, newEvent("storetest.key-claimed.v1"))

				// Other runs on a shared server write too: keep this run's streams only.
				f := follow(store, startMarker.Position, "", func(e eventstore.RecordedEvent) bool { return r.owns(e.Stream) })
				got := fence(ctx, store, f, r.stream("fence"))

				Expect(streams(got)).To(Equal([]string{pay, idem}))
			})

			ginkgo.It("delivers events appended after it started", func(ctx ginkgo.SpecContext) {
				stream := r.stream("payment")
				appended := newEvents(1)
				appendOK(ctx, stream, eventstore.NoStream, appended...)
				f := follow(store, 0, r.prefix("payment"), nil)
				Eventually(ctx, func() []uuid.UUID { return ids(f.events()) }).WithTimeout(wait).Should(Equal(eventIDs(appended)))

				live := newEvents(2)
				appendOK(ctx, stream, 0, live[0])
				appendOK(ctx, r.stream("payment"), eventstore.NoStream, live[1])

				Eventually(ctx, func() []uuid.UUID { return ids(f.events()) }).WithTimeout(wait).Should(Equal(eventIDs(append(appended, live...))))
				expectStrictlyIncreasing(positions(f.events()))
			})

			ginkgo.It("returns the context's error when its context is cancelled", func(ctx ginkgo.SpecContext) {
				appended := newEvents(1)
				appendOK(ctx, r.stream("payment"), eventstore.NoStream, appended...)
				f := follow(store, 0, r.prefix("payment"), nil)
				Eventually(ctx, func() []uuid.UUID { return ids(f.events()) }).WithTimeout(wait).Should(Equal(eventIDs(appended)))

				Expect(f.stop()).To(MatchError(context.Canceled))
			})

			ginkgo.It("stops at the first handler error and returns it wrapped", func(ctx ginkgo.SpecContext) {
				appendOK(ctx, r.stream("payment"), eventstore.NoStream, newEvents(3)...)
				projectionFailed := errors.New("projection failed")
				var calls int
				done := make(chan error, 1)

				go func() {
					defer ginkgo.GinkgoRecover()
					done <- store.Follow(ctx, 0, r.prefix("payment"), func(context.Context, eventstore.RecordedEvent) error {
						calls++
						if calls == 2 {
							return projectionFailed
						}
						return nil
					})
				}()

				var err error
				Eventually(ctx, done).WithTimeout(wait).Should(Receive(&err))
				Expect(err).To(MatchError(projectionFailed))
				Expect(calls).To(Equal(2))
			})

			ginkgo.It("sees concurrent appends to many streams exactly once, in position order", func(ctx ginkgo.SpecContext) {
				const writers, appendsEach = 8, 25
				f := follow(store, 0, r.prefix("payment"), nil)
				var (
					mu    sync.Mutex
					acked []uuid.UUID
					wg    sync.WaitGroup
				)
				for w := range writers {
					wg.Go(func() {
						defer ginkgo.GinkgoRecover()
						own := []string{r.stream("payment"), r.stream("payment"), r.stream("payment")}
						next := make([]eventstore.Revision, len(own))
						for i := range appendsEach {
							s := i % len(own)
							events := newEvents(1 + (w+i)%3)
							res := appendOK(ctx, own[s], next[s]-1, events...)
							next[s] = res.Revision + 1
							mu.Lock()
							acked = append(acked, eventIDs(events)...)
							mu.Unlock()
						}
					})
				}
				wg.Wait()

				got := fence(ctx, store, f, r.stream("payment"))

				expectStrictlyIncreasing(positions(got))
				Expect(sortedStrings(ids(got))).To(Equal(sortedStrings(acked)))
			})
		})
	})
}

func byPosition(x, y eventstore.RecordedEvent) int { return cmp.Compare(x.Position, y.Position) }

func streams(events []eventstore.RecordedEvent) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.Stream
	}
	return out
}

// sortedStrings makes id lists comparable regardless of order; duplicates stay visible.
func sortedStrings(ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	slices.Sort(out)
	return out
}
