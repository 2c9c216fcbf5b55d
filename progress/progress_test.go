package progress_test

import (
	"errors"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/progress"
)

var _ = Describe("Board", func() {
	var (
		now   time.Time
		board *progress.Board
		head  atomic.Uint64
	)
	advance := func(d time.Duration) { now = now.Add(d) }
	report := func(name string) progress.Report {
		for _, r := range board.Reports() {
			if r.Name == name {
				return r
			}
		}
		Fail("no report for " + name)
		return progress.Report{}
	}

	BeforeEach(func() {
		now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		head.Store(0)
		board = progress.NewBoard(progress.WithStallAfter(5*time.Second), progress.WithClock(func() time.Time { return now }))
	})

	It("calls a follower that beats healthy, however long it has had nothing to do", func() {
		t := board.Track("ledger", nil)
		for range 20 {
			advance(time.Second)
			t.Beat()
		}
		Expect(board.Stalled()).To(Succeed())
		Expect(report("ledger")).To(And(HaveField("Stalled", false), HaveField("SinceBeat", time.Duration(0))))
	})

	It("calls a follower stalled once it has not beaten for the stall time, start-up included", func() {
		board.Track("forwarder", nil) // blocked before its first beat
		advance(5 * time.Second)
		Expect(board.Stalled()).To(Succeed())
		advance(time.Second)
		Expect(board.Stalled()).To(MatchError(ContainSubstring("follower forwarder stalled: no heartbeat for 6s")))
	})

	It("names the last failure of a follower that keeps failing", func() {
		t := board.Track("completion", nil)
		for range 7 {
			advance(time.Second)
			t.Failed(errors.New("event store unavailable"))
		}
		Expect(board.Stalled()).To(MatchError(ContainSubstring("last error: event store unavailable")))
		t.Beat()
		Expect(board.Stalled()).To(Succeed(), "alive again")
		Expect(report("completion").Err).To(BeEmpty())
	})

	It("calls a follower stalled at once when its run stopped with an error, until it beats again", func() {
		t := board.Track("wallet", nil)
		t.Stopped(errors.New("fenced"))
		Expect(board.Stalled()).To(MatchError(ContainSubstring("follower wallet stalled: stopped: fenced")))
		t.Beat()
		Expect(board.Stalled()).To(Succeed())
		t.Stopped(nil) // a clean shutdown
		Expect(board.Stalled()).To(Succeed())
	})

	It("calls a follower that beats but stays behind its head stalled after the stall time", func() {
		t := board.Track("projector", head.Load)
		t.Advanced(10)
		head.Store(12)
		Expect(board.Stalled()).To(Succeed(), "just behind")
		for range 5 {
			advance(time.Second)
			t.Beat()
		}
		Expect(board.Stalled()).To(Succeed(), "behind for 5s: not yet")
		advance(time.Second)
		t.Beat()
		Expect(board.Stalled()).To(MatchError(ContainSubstring("follower projector stalled: 2 behind and no progress for 6s")))
		t.Advanced(12)
		Expect(board.Stalled()).To(Succeed())
		Expect(report("projector")).To(And(HaveField("Position", uint64(12)), HaveField("Behind", uint64(0))))
	})

	It("does not call a long-idle follower stalled the moment new work arrives", func() {
		t := board.Track("forwarder", head.Load)
		t.Advanced(3)
		for range 60 {
			advance(time.Second)
			t.Beat()
		}
		head.Store(4)
		Expect(board.Stalled()).To(Succeed())
		advance(time.Second)
		t.Advanced(4)
		Expect(report("forwarder")).To(And(HaveField("Stalled", false), HaveField("SinceAdvance", time.Duration(0))))
	})

	It("reports every follower by name with its position and lag", func() {
		board.Track("wallet", nil).Advanced(7)
		board.Track("forwarder", head.Load).Advanced(5)
		head.Store(9)
		var names []string
		for _, r := range board.Reports() {
			names = append(names, r.Name)
		}
		Expect(names).To(Equal([]string{"forwarder", "wallet"}))
		Expect(report("forwarder")).To(And(HaveField("Position", uint64(5)), HaveField("Head", uint64(9)), HaveField("Behind", uint64(4))))
	})
})
