package pebble_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"time"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/projections"
	"github.com/paystream/paystream/projections/memory"
	"github.com/paystream/paystream/projections/pebble"
	"github.com/paystream/paystream/projections/readmodeltest"
)

// open opens a store in dir, closed when the spec ends.
func open(dir string) *pebble.Store {
	GinkgoHelper()
	s, err := pebble.Open(dir)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(s.Close)
	return s
}

var _ = readmodeltest.DescribeStore("pebble", func(ctx context.Context) projections.Store {
	return open(GinkgoT().TempDir())
})

// commitAll commits events to store in batches of size, from its checkpoint.
func commitAll(ctx context.Context, store projections.Store, events []eventstore.RecordedEvent, size int) {
	GinkgoHelper()
	for i := 0; i < len(events); i += size {
		cp, err := store.Checkpoint(ctx)
		Expect(err).NotTo(HaveOccurred())
		b, err := store.Commit(ctx, cp, events[i:min(i+size, len(events))])
		Expect(err).NotTo(HaveOccurred())
		Expect(b.Poison).To(BeNil())
	}
}

var _ = Describe("pebble read model", func() {
	var (
		dir   string
		store *pebble.Store
		log   *readmodeltest.Log
	)
	BeforeEach(func() {
		dir = GinkgoT().TempDir()
		store, log = open(dir), readmodeltest.NewLog()
	})

	Context("when reopened", func() {
		It("resumes from the stored checkpoint with every row, history row, index and dead letter", func(ctx SpecContext) {
			due := log.Now().Add(time.Hour)
			waiting := []eventstore.RecordedEvent{log.Checkout("order-va", "buyer-9", "seller-a"), log.Started("order-va", 2000),
				log.Awaited("order-va", 2000, due), log.Checkout("order-un", "buyer-9", "seller-a"), log.Started("order-un", 2000),
				log.Unknown("order-un")}
			commitAll(ctx, store, waiting, 100)
			events := log.Interleaved(30, 8, 3)
			head := events[:len(events)-40] // some payments in flight
			commitAll(ctx, store, head, 17)
			poison := log.Raw("order-px", "payment.from-the-future.v9", []byte(`{}`))
			Expect(store.DeadLetter(ctx, projections.DeadLetterOf(&projections.PoisonError{Event: poison, Err: aggregate.ErrUnknownEvent},
				log.Now()))).To(Succeed())

			before := snapshot(ctx, store, due)
			mark := store.CheckpointMark()
			last := head[len(head)-1]
			Expect(mark).To(Equal(pebble.Mark{Position: last.Position, Stream: last.Stream, EventID: last.ID}))
			Expect(store.Close()).To(Succeed())
			Expect(store.Close()).To(Succeed(), "closing again does nothing")
			_, err := store.Payment(ctx, "order-va")
			Expect(err).To(MatchError(pebble.ErrClosed))

			store = open(dir)
			Expect(store.CheckpointMark()).To(Equal(mark))
			Expect(snapshot(ctx, store, due)).To(Equal(before))
			Expect(store.WaitFor(ctx, last.Position)).To(Succeed())
			_, err = store.Commit(ctx, 0, events[len(events)-40:])
			Expect(err).To(MatchError(projections.ErrCheckpointMoved), "a commit from before the stored checkpoint")

			// The projector carries on from the checkpoint: the rest of the lives.
			commitAll(ctx, store, events[len(events)-40:], 7)
			for id, stream := range streams(events) {
				p, err := store.Payment(ctx, id)
				Expect(err).NotTo(HaveOccurred())
				h, err := store.History(ctx, id)
				Expect(err).NotTo(HaveOccurred())
				Expect(projections.Diff(stream, &p, h)).To(BeEmpty(), id)
			}
		})
	})

	It("keeps its indexes to the rows that belong in them as payments move on", func(ctx SpecContext) {
		events := log.Interleaved(40, 10, 5)
		for i := 0; i < len(events); i += 9 {
			commitAll(ctx, store, events[i:min(i+9, len(events))], 9)
			Expect(pebble.IndexKeys(store, pebble.OpenIndex)).To(BeNumerically("<=", 10), "at most the payments in flight")
		}
		Expect(pebble.IndexKeys(store, pebble.CreatedIndex)).To(Equal(40))
		Expect(pebble.IndexKeys(store, pebble.StatusIndex)).To(Equal(40), "one status key per row: old ones are deleted")
		Expect(pebble.IndexKeys(store, pebble.OpenIndex)).To(BeZero(), "every payment completed")
		Expect(pebble.IndexKeys(store, pebble.WaitingIndex)).To(BeZero())

		due := log.Now().Add(time.Hour)
		commitAll(ctx, store, []eventstore.RecordedEvent{log.Checkout("order-va", "b", "s"), log.Started("order-va", 2000),
			log.Awaited("order-va", 2000, due)}, 1)
		Expect(pebble.IndexKeys(store, pebble.WaitingIndex)).To(Equal(1))
		Expect(pebble.IndexKeys(store, pebble.OpenIndex)).To(BeZero(), "EXECUTING moved on to WAITING_FOR_DEPOSIT")
		commitAll(ctx, store, []eventstore.RecordedEvent{log.Deposited("order-va", 2000)}, 1)
		Expect(pebble.IndexKeys(store, pebble.WaitingIndex)).To(BeZero())
	})

	It("answers every query as the memory read model does", func(ctx SpecContext) {
		// Payments in every state, over a spread of creation times, some sharing one.
		mem := memory.New()
		rng := rand.New(rand.NewPCG(11, 12))
		var events []eventstore.RecordedEvent
		for i := range 120 {
			id := fmt.Sprintf("order-%03d", rng.IntN(1000)*1000+i)
			sellers := []string{"seller-a", "seller-b", "seller-c"}[:1+rng.IntN(3)]
			events = append(events, log.Checkout(id, fmt.Sprintf("buyer-%d", rng.IntN(4)), sellers...))
			switch rng.IntN(7) {
			case 0: // NOT_STARTED
			case 1:
				events = append(events, log.Started(id, 2000))
			case 2:
				events = append(events, log.Started(id, 2000), log.Unknown(id))
			case 3:
				events = append(events, log.Started(id, 2000), log.Failed(id))
			case 4:
				events = append(events, log.Started(id, 2000), log.Awaited(id, 2000, log.Now().Add(time.Duration(rng.IntN(100))*time.Minute)))
			case 5:
				events = append(events, log.Started(id, 2000), log.Approved(id, 2000), log.RefundRequested(id, "r1", 500))
			default:
				events = append(events, log.Started(id, 2000), log.Approved(id, 2000))
			}
			if rng.IntN(3) == 0 {
				log.Base = log.Base.Add(-time.Second) // the next checkout at the same time
			}
		}
		commitAll(ctx, store, events, 13)
		commitAll(ctx, mem, events, 50)

		start, end := log.Base, log.Now()
		at := func() time.Time { // a time among the payments', often off the microsecond
			return start.Add(time.Duration(rng.Int64N(int64(end.Sub(start)))))
		}
		for range 200 {
			f := projections.Filter{Limit: 1 + rng.IntN(12)}
			if rng.IntN(2) == 0 {
				f.Status = []aggregate.Status{aggregate.StatusNotStarted, aggregate.StatusExecuting, aggregate.StatusUnknown,
					aggregate.StatusFailure, aggregate.StatusSuccess, aggregate.StatusWaitingForDeposit}[rng.IntN(6)]
			}
			if rng.IntN(3) == 0 {
				f.BuyerID = fmt.Sprintf("buyer-%d", rng.IntN(4))
			}
			if rng.IntN(3) == 0 {
				f.SellerID = []string{"seller-a", "seller-b", "seller-c"}[rng.IntN(3)]
			}
			if rng.IntN(2) == 0 {
				f.CreatedFrom = at()
			}
			if rng.IntN(2) == 0 {
				f.CreatedTo = at()
			}
			Expect(listAll(ctx, store, f)).To(Equal(listAll(ctx, mem, f)), "%+v", f)
		}
		for range 50 {
			cutoff, limit := at(), 1+rng.IntN(40)
			Expect(store.OpenForRecovery(ctx, cutoff, limit)).To(Equal(must(mem.OpenForRecovery(ctx, cutoff, limit))), "%s %d", cutoff, limit)
			dueBy := at().Add(time.Duration(rng.IntN(120)) * time.Minute)
			Expect(depositsDue(ctx, store, dueBy, limit)).To(Equal(depositsDue(ctx, mem, dueBy, limit)), "%s %d", dueBy, limit)
		}
	})

	It("refuses a directory that holds another database, naming it", func() {
		other := GinkgoT().TempDir()
		s := open(other)
		Expect(pebble.Put(s, []byte("v"), []byte("paystream.readmodel.v0"))).To(Succeed())
		Expect(s.Close()).To(Succeed())
		_, err := pebble.Open(other)
		Expect(err).To(MatchError(pebble.ErrIncompatible))
		Expect(err).To(MatchError(ContainSubstring(other)))

		foreign := GinkgoT().TempDir()
		s = open(foreign)
		Expect(pebble.Put(s, []byte("v"), nil)).To(Succeed())
		Expect(pebble.Put(s, []byte("a-key"), []byte("of something else"))).To(Succeed())
		Expect(s.Close()).To(Succeed())
		_, err = pebble.Open(foreign)
		Expect(err).To(MatchError(pebble.ErrIncompatible))

		damaged := GinkgoT().TempDir()
		s = open(damaged)
		Expect(pebble.Put(s, []byte("k"), []byte{0x80})).To(Succeed())
		Expect(s.Close()).To(Succeed())
		_, err = pebble.Open(damaged)
		Expect(err).To(MatchError(pebble.ErrIncompatible), "a checkpoint that does not decode")
	})

	Describe("its row encoding", func() {
		It("round-trips every field of a row", func() {
			var p projections.Payment
			n := 0
			fill(reflect.ValueOf(&p).Elem(), "Payment", &n)
			Expect(pebble.DecodePayment(pebble.EncodePayment(nil, &p))).To(Equal(p))

			p.TotalAmount = decimal.RequireFromString("-123456789012345678901234.5678") // beyond an int64
			p.Orders[0].Amount = decimal.RequireFromString("-0.000001")
			p.Refunds[1].Orders = []aggregate.RefundSplit{} // allocated to no order: not nil
			p.Refunds[0].Orders = nil                       // not allocated yet
			p.Evidence = json.RawMessage{}
			Expect(pebble.DecodePayment(pebble.EncodePayment(nil, &p))).To(Equal(p))

			zero := projections.Payment{}
			Expect(pebble.DecodePayment(pebble.EncodePayment(nil, &zero))).To(Equal(zero))
		})

		It("refuses a damaged row", func() {
			var p projections.Payment
			n := 0
			fill(reflect.ValueOf(&p).Elem(), "Payment", &n)
			b := pebble.EncodePayment(nil, &p)
			for _, damaged := range [][]byte{b[:len(b)-1], append(b, 0), {}, append([]byte{9}, b[1:]...), b[:40]} {
				_, err := pebble.DecodePayment(damaged)
				Expect(err).To(HaveOccurred())
			}
		})
	})
})

// fill sets every field reachable from v to a distinct non-zero value (two elements per
// slice), failing on a kind it does not know: a field added to the rows must be taught to
// it, and to the codec.
func fill(v reflect.Value, path string, n *int) {
	GinkgoHelper()
	*n++
	switch v.Type() {
	case reflect.TypeFor[decimal.Decimal]():
		v.Set(reflect.ValueOf(decimal.New(int64(*n)*1234567, -2)))
		return
	case reflect.TypeFor[time.Time]():
		v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC).Add(time.Duration(*n) * time.Hour)))
		return
	case reflect.TypeFor[json.RawMessage]():
		v.Set(reflect.ValueOf(json.RawMessage(fmt.Sprintf(`{"n":%d}`, *n))))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("%s-%d", path, *n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(int64(*n))
	case reflect.Uint64:
		v.SetUint(uint64(*n))
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), path, n)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), fmt.Sprintf("%s[%d]", path, i), n)
		}
		v.Set(s)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), path+"."+v.Type().Field(i).Name, n)
		}
	default:
		Fail(fmt.Sprintf("%s: fill knows no %s; teach it, and the row codec", path, v.Type()))
	}
}

func must[T any](v T, err error) T {
	GinkgoHelper()
	Expect(err).NotTo(HaveOccurred())
	return v
}

func streams(events []eventstore.RecordedEvent) map[string][]eventstore.RecordedEvent {
	out := map[string][]eventstore.RecordedEvent{}
	for _, e := range events {
		id := projections.OrderIDOf(e.Stream)
		out[id] = append(out[id], e)
	}
	return out
}

// listAll pages through List and returns the orderIds in order, page by page.
func listAll(ctx context.Context, rm projections.ReadModel, f projections.Filter) [][]string {
	GinkgoHelper()
	var pages [][]string
	for range 1000 {
		page, err := rm.List(ctx, f)
		Expect(err).NotTo(HaveOccurred())
		ids := []string{}
		for _, p := range page.Items {
			ids = append(ids, p.OrderID)
		}
		pages = append(pages, ids)
		if page.NextCursor == "" {
			return pages
		}
		f.Cursor = page.NextCursor
	}
	Fail("List does not end")
	return nil
}

func depositsDue(ctx context.Context, rm projections.ReadModel, dueBy time.Time, limit int) [][]string {
	GinkgoHelper()
	var pages [][]string
	cursor := ""
	for range 1000 {
		ids, next, err := rm.DepositsDue(ctx, dueBy, limit, cursor)
		Expect(err).NotTo(HaveOccurred())
		pages = append(pages, ids)
		if next == "" {
			return pages
		}
		cursor = next
	}
	Fail("DepositsDue does not end")
	return nil
}

// state is what a read model answers, for comparing it before and after a reopen.
type state struct {
	Checkpoint  eventstore.Position
	Payments    []projections.Payment
	History     map[string][]projections.History
	Open        []string
	Due         [][]string
	DeadLetters []projections.DeadLetter
	Statuses    map[aggregate.Status][][]string
}

func snapshot(ctx context.Context, s *pebble.Store, dueBy time.Time) state {
	GinkgoHelper()
	st := state{Checkpoint: must(s.Checkpoint(ctx)), History: map[string][]projections.History{}, Statuses: map[aggregate.Status][][]string{}}
	page := must(s.List(ctx, projections.Filter{Limit: projections.MaxLimit}))
	Expect(page.NextCursor).To(BeEmpty())
	st.Payments = page.Items
	for _, p := range page.Items {
		st.History[p.OrderID] = must(s.History(ctx, p.OrderID))
		st.Statuses[p.Status] = listAll(ctx, s, projections.Filter{Status: p.Status, Limit: 3})
	}
	st.Open = must(s.OpenForRecovery(ctx, dueBy, 100))
	st.Due = depositsDue(ctx, s, dueBy, 2)
	st.DeadLetters = must(s.DeadLetters(ctx))
	Expect(st.Open).NotTo(BeEmpty())
	Expect(st.Due).To(Equal([][]string{{"order-va"}}))
	Expect(st.DeadLetters).To(HaveLen(1))
	return st
}
