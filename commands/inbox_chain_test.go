package commands_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/audit"
	"github.com/paystream/paystream/commands"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/embedded"
)

var _ = Describe("the webhook inbox's stream", func() {
	It("chains every webhook to the one before it, whichever instance stored that one", func(ctx SpecContext) {
		store := embedded.OpenMemory()
		DeferCleanup(store.Close)
		day := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
		now := func() time.Time { return day }
		// Two instances: each appends at the head it knows, and meets the other's appends.
		here := commands.NewWebhookInbox(commands.New(commands.Config{Store: store, Now: now}), 0, 0)
		there := commands.NewWebhookInbox(commands.New(commands.Config{Store: store, Now: now}), 0, 0)
		for i, in := range []*commands.WebhookInbox{here, here, there, here, there, there, here} {
			Expect(in.Accept(ctx, commands.Webhook{TransmissionID: fmt.Sprintf("t-%d", i), EventType: "PAYMENT_STATUS_CHANGED",
				OrderID: "order-1", Status: "DONE"})).To(Succeed())
		}
		stream := commands.WebhookStreamPrefix + "20261130"
		recorded, err := store.ReadStream(ctx, stream)
		Expect(err).NotTo(HaveOccurred())
		Expect(recorded).To(HaveLen(7))
		report := audit.VerifyStream(stream, recorded, nil)
		Expect(report.Findings).To(BeEmpty())
		Expect(report.PreChain).To(BeZero())
	})
})

// slowAppends makes every append take a while, as an fsync does, and counts them.
type slowAppends struct {
	*embedded.Store
	appends atomic.Int32
}

func (s *slowAppends) Append(ctx context.Context, stream string, expected eventstore.Revision, events []eventstore.Event) (eventstore.AppendResult, error) {
	s.appends.Add(1)
	time.Sleep(2 * time.Millisecond)
	return s.Store.Append(ctx, stream, expected, events)
}

var _ = Describe("the webhook inbox under concurrent webhooks", func() {
	It("stores each transmission once, chained, and concurrent webhooks share appends", func(ctx SpecContext) {
		store := &slowAppends{Store: embedded.OpenMemory()}
		DeferCleanup(store.Close)
		day := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
		now := func() time.Time { return day }
		here := commands.NewWebhookInbox(commands.New(commands.Config{Store: store, Now: now}), 0, 0)
		there := commands.NewWebhookInbox(commands.New(commands.Config{Store: store, Now: now}), 0, 0)
		const transmissions = 60
		var wg sync.WaitGroup
		// Each transmission reaches both instances, and one of them twice (Toss retries).
		for i := range transmissions {
			for _, in := range []*commands.WebhookInbox{here, there, here} {
				wg.Go(func() {
					defer GinkgoRecover()
					Expect(in.Accept(ctx, commands.Webhook{TransmissionID: fmt.Sprintf("t-%d", i),
						EventType: "PAYMENT_STATUS_CHANGED", OrderID: fmt.Sprintf("order-%d", i), Status: "DONE"})).To(Succeed())
				})
			}
		}
		wg.Wait()

		stream := commands.WebhookStreamPrefix + "20261130"
		recorded, err := store.ReadStream(ctx, stream)
		Expect(err).NotTo(HaveOccurred())
		stored := map[string]int{}
		for _, e := range recorded {
			Expect(e.Type).To(Equal(commands.NameWebhookReceived))
			var r commands.WebhookReceived
			Expect(json.Unmarshal(e.Data, &r)).To(Succeed())
			stored[r.TransmissionID]++
		}
		Expect(stored).To(HaveLen(transmissions))
		for id, n := range stored {
			Expect(n).To(Equal(1), "transmission %s", id)
		}
		report := audit.VerifyStream(stream, recorded, nil)
		Expect(report.Findings).To(BeEmpty())
		// 180 webhooks, each stored or found stored, in far fewer appends than webhooks.
		Expect(store.appends.Load()).To(BeNumerically("<", transmissions))
	})
})
