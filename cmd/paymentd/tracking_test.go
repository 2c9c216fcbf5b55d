package main

import (
	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/embedded"
)

var _ = Describe("read-your-writes tracking", func() {
	It("waits only for payment streams, which are all the read models follow", func(ctx SpecContext) {
		store := embedded.OpenMemory()
		DeferCleanup(store.Close)
		rm := &readModels{}
		tracked := rm.track(store)
		event := func() []eventstore.Event {
			return []eventstore.Event{{ID: uuid.New(), Type: "spec.v1", Data: []byte(`{}`)}}
		}
		res, err := tracked.Append(ctx, "payment-order-0001", eventstore.NoStream, event())
		Expect(err).NotTo(HaveOccurred())
		Expect(rm.lastWritten()).To(Equal(res.Position))

		for _, other := range []string{"idempotency-abc", "webhook-inbox-20261130", "audit-anchors"} {
			_, err = tracked.Append(ctx, other, eventstore.NoStream, event())
			Expect(err).NotTo(HaveOccurred())
		}
		Expect(rm.lastWritten()).To(Equal(res.Position), "a read would otherwise wait for a position no read model reaches")
	})
})
