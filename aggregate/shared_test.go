package aggregate_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	. "github.com/paystream/paystream/aggregate"
)

var _ = Describe("the shared decodes behind EvolveStored", func() {
	var (
		decodes atomic.Int64
		counted = func(name string, data []byte) (Event, error) {
			decodes.Add(1)
			return Decode(name, data)
		}
		expired = []byte(`{"at":"2026-01-01T00:00:00Z"}`) // a CheckoutExpired, and a DepositExpired too
	)
	BeforeEach(func() { decodes.Store(0) })

	at := func(i int) []byte { return fmt.Appendf(nil, `{"at":"2026-01-01T00:00:%02dZ"}`, i) }

	It("decodes the same stored bytes once, and gives the same event each time", func() {
		memo := NewDecodeMemo(4, counted)
		first, err := memo.Get(NameCheckoutExpired, expired)
		Expect(err).NotTo(HaveOccurred())
		again, err := memo.Get(NameCheckoutExpired, []byte(string(expired))) // equal bytes, another slice
		Expect(err).NotTo(HaveOccurred())
		Expect(again).To(Equal(first))
		Expect(decodes.Load()).To(BeEquivalentTo(1))
	})

	It("never serves an event decoded under another name", func() {
		memo := NewDecodeMemo(4, counted)
		_, err := memo.Get(NameCheckoutExpired, expired)
		Expect(err).NotTo(HaveOccurred())
		e, err := memo.Get(NameDepositExpired, expired)
		Expect(err).NotTo(HaveOccurred())
		Expect(e).To(BeAssignableToTypeOf(DepositExpired{}))
		Expect(decodes.Load()).To(BeEquivalentTo(2))
	})

	It("holds at most its capacity, forgetting the oldest first", func() {
		memo := NewDecodeMemo(2, counted)
		for i := range 3 {
			_, err := memo.Get(NameCheckoutExpired, at(i))
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(memo.Len()).To(Equal(2))
		_, err := memo.Get(NameCheckoutExpired, at(2)) // held
		Expect(err).NotTo(HaveOccurred())
		Expect(decodes.Load()).To(BeEquivalentTo(3))
		_, err = memo.Get(NameCheckoutExpired, at(0)) // forgotten: decoded again
		Expect(err).NotTo(HaveOccurred())
		Expect(decodes.Load()).To(BeEquivalentTo(4))
		Expect(memo.Len()).To(Equal(2))
	})

	It("remembers no failure: the error each time, with the event's name", func() {
		memo := NewDecodeMemo(4, counted)
		for range 2 {
			_, err := memo.Get(NameCheckoutExpired, []byte(`{"at":7}`))
			Expect(err).To(MatchError(ContainSubstring(NameCheckoutExpired)))
			_, err = memo.Get("payment.unheard-of.v1", expired)
			Expect(errors.Is(err, ErrUnknownEvent)).To(BeTrue())
		}
		Expect(memo.Len()).To(BeZero())
	})

	It("is safe for followers decoding the same events at once", func() {
		memo := NewDecodeMemo(16, counted)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				defer GinkgoRecover()
				for i := range 40 { // more than it holds: evictions race with hits
					e, err := memo.Get(NameCheckoutExpired, at(i%30))
					Expect(err).NotTo(HaveOccurred())
					want, _ := Decode(NameCheckoutExpired, at(i%30))
					Expect(e).To(Equal(want))
				}
			})
		}
		wg.Wait()
		Expect(memo.Len()).To(BeNumerically("<=", 16))
	})

	It("hands out events that folding leaves as they were decoded", func() {
		// Every golden event, folded twice (two followers sharing the decodes) from a
		// payment's first event on; afterwards each shared event still equals a fresh decode.
		// A fold that wrote through an event's slices, or through a state's slices that alias
		// them, would show here.
		names := slices.Clone(lifecycle)
		for _, n := range EventNames() {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		data := map[string][]byte{}
		for _, n := range names {
			b, err := os.ReadFile(filepath.Join(goldenDir, n+".json"))
			Expect(err).NotTo(HaveOccurred())
			data[n] = b
		}
		var folded []State
		for range 2 {
			var s State
			for _, n := range names {
				var err error
				s, _, err = EvolveStored(s, n, data[n])
				Expect(err).NotTo(HaveOccurred(), n)
			}
			folded = append(folded, s)
		}
		Expect(folded[1]).To(Equal(folded[0]))
		for _, n := range names {
			_, shared, err := EvolveStored(State{}, n, data[n])
			Expect(err).NotTo(HaveOccurred())
			fresh, err := Decode(n, data[n])
			Expect(err).NotTo(HaveOccurred())
			Expect(shared).To(Equal(fresh), n)
		}
	})
})

// lifecycle orders the golden events the way a payment with refunds records them; events
// not named here follow in any order.
var lifecycle = []string{
	NameCheckoutCreated, NameExecutionStarted, NamePspApproved, NameLedgerUpdated, NameWalletUpdated,
	NamePaymentCompleted, NameRefundRequested, NameRefundApproved, NameRefundBooked,
	NameExternalRefundRecorded, NameRefundAllocated,
}
