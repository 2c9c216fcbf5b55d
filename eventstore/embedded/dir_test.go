package embedded_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"

	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/embedded"
)

var _ = Describe("A data directory", func() {
	var (
		dir     string
		logFile string
	)

	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		logFile = filepath.Join(dir, "events.log")
	})

	open := func(opts ...embedded.Option) *embedded.Store {
		GinkgoHelper()
		s, err := embedded.Open(dir, opts...)
		Expect(err).NotTo(HaveOccurred())
		return s
	}

	// appendEach appends n events to stream one append at a time and returns where the log
	// ended before each append and after the last.
	appendEach := func(ctx context.Context, s *embedded.Store, stream string, n int) []int64 {
		GinkgoHelper()
		var sizes []int64
		for i := range n {
			sizes = append(sizes, embedded.LogEnd(s))
			_, err := s.Append(ctx, stream, eventstore.Revision(i)-1, []eventstore.Event{event()})
			Expect(err).NotTo(HaveOccurred())
		}
		return append(sizes, embedded.LogEnd(s))
	}

	readAll := func(ctx context.Context, s *embedded.Store, streams ...string) []eventstore.RecordedEvent {
		GinkgoHelper()
		var all []eventstore.RecordedEvent
		for _, name := range streams {
			events, err := s.ReadStream(ctx, name)
			Expect(err).NotTo(HaveOccurred())
			all = append(all, events...)
		}
		return all
	}

	Context("closed and opened again", func() {
		It("keeps streams, revisions and positions, and continues them", func(ctx SpecContext) {
			s := open()
			_, err := s.Append(ctx, "payment-a", eventstore.NoStream, []eventstore.Event{event(), event()})
			Expect(err).NotTo(HaveOccurred())
			appendEach(ctx, s, "payment-b", 2)
			_, err = s.Append(ctx, "payment-a", 1, []eventstore.Event{event()})
			Expect(err).NotTo(HaveOccurred())
			before := readAll(ctx, s, "payment-a", "payment-b")
			Expect(s.Close()).To(Succeed())

			s = open()
			DeferCleanup(s.Close)

			Expect(readAll(ctx, s, "payment-a", "payment-b")).To(Equal(before))
			res, err := s.Append(ctx, "payment-a", 2, []eventstore.Event{event()})
			Expect(err).NotTo(HaveOccurred())
			Expect(res).To(Equal(eventstore.AppendResult{Revision: 3, Position: 6}))
			_, err = s.Append(ctx, "payment-b", 0, []eventstore.Event{event()})
			Expect(err).To(MatchError(eventstore.ErrConcurrency))
		})
	})

	Context("with a torn tail", func() {
		DescribeTable("truncates it, logs the repair and keeps every acknowledged event",
			func(ctx SpecContext, tear func(lastFrame []byte) []byte) {
				s := open()
				sizes := appendEach(ctx, s, "payment-1", 5)
				acked := readAll(ctx, s, "payment-1")
				Expect(s.Close()).To(Succeed())
				content, err := os.ReadFile(logFile)
				Expect(err).NotTo(HaveOccurred())
				lastFrame := content[sizes[4]:sizes[5]]
				appendToFile(logFile, tear(lastFrame))
				logs := gbytes.NewBuffer()

				s = open(embedded.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))

				Expect(logs).To(gbytes.Say("torn tail"))
				Expect(readAll(ctx, s, "payment-1")).To(Equal(acked))
				Expect(fileSize(logFile)).To(Equal(sizes[5]))
				// The next append lands where the tail was: a later open finds no damage.
				_, err = s.Append(ctx, "payment-1", 4, []eventstore.Event{event()})
				Expect(err).NotTo(HaveOccurred())
				Expect(s.Close()).To(Succeed())
				s = open()
				DeferCleanup(s.Close)
				Expect(readAll(ctx, s, "payment-1")).To(HaveLen(6))
			},
			Entry("garbage", func([]byte) []byte { return []byte("\x00\x17 not a frame \xff\xfe") }),
			Entry("the first half of a frame", func(frame []byte) []byte { return frame[:len(frame)/2] }),
			Entry("a whole frame but its last byte", func(frame []byte) []byte { return frame[:len(frame)-1] }),
		)

		It("cuts off a tail of zeros without calling it torn: the space a killed process wrote ahead of its log", func(ctx SpecContext) {
			s := open()
			sizes := appendEach(ctx, s, "payment-1", 5)
			Expect(fileSize(logFile)).To(BeNumerically(">=", sizes[5]+512<<10), "appends grow into zeros written ahead")
			acked := readAll(ctx, s, "payment-1")
			Expect(s.Close()).To(Succeed())
			Expect(fileSize(logFile)).To(Equal(sizes[5]), "Close cuts the zeros off")
			appendToFile(logFile, make([]byte, 1<<20+3)) // as a killed process leaves them
			logs := gbytes.NewBuffer()

			s = open(embedded.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))

			Expect(logs).To(gbytes.Say("zeros written ahead"))
			Expect(string(logs.Contents())).NotTo(ContainSubstring("torn"))
			Expect(readAll(ctx, s, "payment-1")).To(Equal(acked))
			_, err := s.Append(ctx, "payment-1", 4, []eventstore.Event{event()})
			Expect(err).NotTo(HaveOccurred())
			Expect(s.Close()).To(Succeed())
			s = open()
			DeferCleanup(s.Close)
			Expect(readAll(ctx, s, "payment-1")).To(HaveLen(6))
		})

		It("drops a final record that was cut short and keeps the ones before it", func(ctx SpecContext) {
			s := open()
			sizes := appendEach(ctx, s, "payment-1", 5)
			acked := readAll(ctx, s, "payment-1")
			Expect(s.Close()).To(Succeed())
			Expect(os.Truncate(logFile, sizes[5]-3)).To(Succeed())

			s = open()
			DeferCleanup(s.Close)

			Expect(readAll(ctx, s, "payment-1")).To(Equal(acked[:4]))
			res, err := s.Append(ctx, "payment-1", 3, []eventstore.Event{event()})
			Expect(err).NotTo(HaveOccurred())
			Expect(res).To(Equal(eventstore.AppendResult{Revision: 4, Position: 5}))
		})
	})

	Context("with damage before the tail", func() {
		It("fails with ErrCorrupt and leaves the file as it was", func(ctx SpecContext) {
			s := open()
			sizes := appendEach(ctx, s, "payment-1", 10)
			Expect(s.Close()).To(Succeed())
			content, err := os.ReadFile(logFile)
			Expect(err).NotTo(HaveOccurred())
			middle := (sizes[3] + sizes[4]) / 2
			content[middle] ^= 0x01
			Expect(os.WriteFile(logFile, content, 0o640)).To(Succeed())

			_, err = embedded.Open(dir)

			Expect(err).To(MatchError(eventstore.ErrCorrupt))
			Expect(os.ReadFile(logFile)).To(Equal(content))
		})

		It("fails with ErrCorrupt on a file that is not an event log", func() {
			Expect(os.WriteFile(logFile, []byte("these are not the events you are looking for"), 0o640)).To(Succeed())

			_, err := embedded.Open(dir)

			Expect(err).To(MatchError(eventstore.ErrCorrupt))
		})
	})

	Context("while open", func() {
		It("refuses a second Open with ErrLocked until the first store is closed", func() {
			s := open()

			_, err := embedded.Open(dir)
			Expect(err).To(MatchError(embedded.ErrLocked))

			Expect(s.Close()).To(Succeed())
			s = open()
			Expect(s.Close()).To(Succeed())
		})
	})

	Context("closed under concurrent appends", func() {
		It("holds exactly the acknowledged appends when opened again", func(ctx SpecContext) {
			s := open()
			const appenders = 64
			var (
				mu    sync.Mutex
				acked = map[string]int{} // stream → acknowledged events
				wg    sync.WaitGroup
			)
			for a := range appenders {
				wg.Go(func() {
					defer GinkgoRecover()
					stream := fmt.Sprintf("payment-%d", a)
					for rev := eventstore.NoStream; ; rev++ {
						_, err := s.Append(ctx, stream, rev, []eventstore.Event{event()})
						if err != nil {
							Expect(err).To(MatchError(eventstore.ErrClosed))
							return
						}
						mu.Lock()
						acked[stream]++
						mu.Unlock()
					}
				})
			}
			Eventually(ctx, func() int {
				mu.Lock()
				defer mu.Unlock()
				return len(acked)
			}).Should(Equal(appenders))

			Expect(s.Close()).To(Succeed())
			wg.Wait()

			s = open()
			DeferCleanup(s.Close)
			for stream, n := range acked {
				Expect(readAll(ctx, s, stream)).To(HaveLen(n), stream)
			}
		})
	})
})

func fileSize(path string) int64 {
	GinkgoHelper()
	info, err := os.Stat(path)
	Expect(err).NotTo(HaveOccurred())
	return info.Size()
}

func appendToFile(path string, b []byte) {
	GinkgoHelper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	Expect(err).NotTo(HaveOccurred())
	_, err = f.Write(b)
	Expect(err).NotTo(HaveOccurred())
	Expect(f.Close()).To(Succeed())
}

var _ = Describe("A data directory read from its log", func() {
	var (
		dir string
		s   *embedded.Store
	)

	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		var err error
		s, err = embedded.OpenUncached(dir)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(s.Close)
	})

	It("reads events larger than one read of a frame", func(ctx SpecContext) {
		big := eventstore.Event{ID: uuid.New(), Type: "test.happened.v1",
			Data: []byte(`"` + strings.Repeat("x", 100_000) + `"`), Metadata: []byte(`{"m":1}`)}
		_, err := s.Append(ctx, "payment-1", eventstore.NoStream, []eventstore.Event{event(), big, event()})
		Expect(err).NotTo(HaveOccurred())

		events, err := s.ReadStream(ctx, "payment-1")

		Expect(err).NotTo(HaveOccurred())
		Expect(events).To(HaveLen(3))
		Expect(events[1].ID).To(Equal(big.ID))
		Expect(events[1].Data).To(Equal(big.Data))
		Expect(events[1].Metadata).To(Equal(big.Metadata))
		Expect(events[1].Revision).To(Equal(eventstore.Revision(1)))
	})

	It("fails reads and follows with ErrCorrupt when an acknowledged frame is damaged", func(ctx SpecContext) {
		marked := eventstore.Event{ID: uuid.New(), Type: "test.happened.v1", Data: []byte(`{"mark":"damage-me"}`)}
		_, err := s.Append(ctx, "payment-1", eventstore.NoStream, []eventstore.Event{marked})
		Expect(err).NotTo(HaveOccurred())
		logFile := filepath.Join(dir, "events.log")
		content, err := os.ReadFile(logFile)
		Expect(err).NotTo(HaveOccurred())
		at := bytes.Index(content, []byte("damage-me"))
		Expect(at).To(BeNumerically(">", 0))
		f, err := os.OpenFile(logFile, os.O_WRONLY, 0)
		Expect(err).NotTo(HaveOccurred())
		_, err = f.WriteAt([]byte("D"), int64(at))
		Expect(err).NotTo(HaveOccurred())
		Expect(f.Close()).To(Succeed())

		_, err = s.ReadStream(ctx, "payment-1")
		Expect(err).To(MatchError(eventstore.ErrCorrupt))
		err = s.Follow(ctx, 0, "", func(context.Context, eventstore.RecordedEvent) error { return nil })
		Expect(err).To(MatchError(eventstore.ErrCorrupt))
	})
})
