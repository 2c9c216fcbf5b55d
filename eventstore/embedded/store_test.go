package embedded_test

import (
	"context"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/embedded"
	"github.com/paystream/paystream/eventstore/storetest"
)

var _ = storetest.Describe("memory store", func(context.Context) (eventstore.Store, func()) {
	s := embedded.OpenMemory()
	return s, func() { Expect(s.Close()).To(Succeed()) }
})

var _ = storetest.Describe("memory store reading from its log", func(context.Context) (eventstore.Store, func()) {
	s := embedded.OpenMemoryUncached()
	return s, func() { Expect(s.Close()).To(Succeed()) }
})

var _ = storetest.Describe("directory store", func(context.Context) (eventstore.Store, func()) {
	s, err := embedded.Open(GinkgoT().TempDir())
	Expect(err).NotTo(HaveOccurred())
	return s, func() { Expect(s.Close()).To(Succeed()) }
})

var _ = storetest.Describe("directory store reading from its log", func(context.Context) (eventstore.Store, func()) {
	s, err := embedded.OpenUncached(GinkgoT().TempDir())
	Expect(err).NotTo(HaveOccurred())
	return s, func() { Expect(s.Close()).To(Succeed()) }
})

var _ = Describe("Store", func() {
	modes := []struct {
		name string
		open func() *embedded.Store
	}{
		{"in memory", embedded.OpenMemory},
		{"in a data directory", func() *embedded.Store {
			s, err := embedded.Open(GinkgoT().TempDir())
			Expect(err).NotTo(HaveOccurred())
			return s
		}},
	}
	for _, mode := range modes {
		Context(mode.name+", once closed", func() {
			var s *embedded.Store

			BeforeEach(func(ctx SpecContext) {
				s = mode.open()
				_, err := s.Append(ctx, "payment-1", eventstore.NoStream, []eventstore.Event{event()})
				Expect(err).NotTo(HaveOccurred())
			})

			It("fails every operation with ErrClosed, and closing again does nothing", func(ctx SpecContext) {
				Expect(s.Close()).To(Succeed())

				_, err := s.Append(ctx, "payment-1", 0, []eventstore.Event{event()})
				Expect(err).To(MatchError(eventstore.ErrClosed))
				_, err = s.ReadStream(ctx, "payment-1")
				Expect(err).To(MatchError(eventstore.ErrClosed))
				err = s.Follow(ctx, 0, "", func(context.Context, eventstore.RecordedEvent) error { return nil })
				Expect(err).To(MatchError(eventstore.ErrClosed))
				Expect(s.Close()).To(Succeed())
			})

			It("ends a running Follow with ErrClosed", func(ctx SpecContext) {
				delivered := make(chan struct{}, 1)
				done := make(chan error, 1)
				go func() {
					done <- s.Follow(ctx, 0, "", func(context.Context, eventstore.RecordedEvent) error {
						delivered <- struct{}{}
						return nil
					})
				}()
				Eventually(ctx, delivered).Should(Receive())

				Expect(s.Close()).To(Succeed())

				Eventually(ctx, done).Should(Receive(MatchError(eventstore.ErrClosed)))
			})
		})
	}
})

func event() eventstore.Event {
	return eventstore.Event{ID: uuid.New(), Type: "test.happened.v1", Data: []byte(`{"ok":true}`)}
}
