package commands_test

import (
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/audit"
	"github.com/paystream/paystream/commands"
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
