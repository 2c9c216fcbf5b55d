package main

import (
	"context"
	"io"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore/esdb"
	"github.com/paystream/paystream/eventstore/esdbtest"
)

var _ = Describe("paymentd end to end on EventStoreDB (the emulator)", func() {
	var emulator *esdbtest.Server

	BeforeEach(func() {
		var err error
		emulator, err = esdbtest.Start(esdbtest.Options{})
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(emulator.Stop)
	})

	It("runs checkout → buyer authorisation → confirm → state → events, stored in EventStoreDB", func(ctx SpecContext) {
		inst := startPaymentd(map[string]string{"EVENTSTORE_URL": emulator.URL()})
		defer func() { Expect(inst.stop()).To(Succeed()) }()

		orderID, paymentKey, amount := checkoutAndAuthorise(inst)
		conf := call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, paymentKey, amount))
		Expect(conf.status).To(Equal(http.StatusOK), "%v", conf.body)
		Expect(conf.body["status"]).To(Equal("SUCCESS"))
		again := call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, paymentKey, amount))
		Expect(again.status).To(Equal(http.StatusOK), "a repeated confirm answers the recorded outcome")

		state := call(http.MethodGet, inst.url+"/v1/payments/"+orderID, nil)
		Expect(state.status).To(Equal(http.StatusOK))
		Expect(state.body["status"]).To(Equal("SUCCESS"))
		Expect(state.body["orders"]).To(HaveLen(2))

		// The stream is in EventStoreDB, readable by any client.
		store, err := esdb.Open(ctx, emulator.URL())
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(store.Close)
		events, err := store.ReadStream(ctx, aggregate.StreamName(orderID))
		Expect(err).NotTo(HaveOccurred())
		var types []string
		for _, e := range events {
			types = append(types, e.Type)
			Expect(e.Metadata).NotTo(BeEmpty(), "metadata travels as custom metadata")
		}
		expectApprovedThenDownstream(types)
	})

	It("keeps every payment across a paymentd restart", func() {
		env := map[string]string{"EVENTSTORE_URL": emulator.URL()}
		inst := startPaymentd(env)
		var orders, positions []string
		for range 3 {
			orderID, paymentKey, amount := checkoutAndAuthorise(inst)
			confirmed := call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, paymentKey, amount))
			Expect(confirmed.status).To(Equal(http.StatusOK))
			orders, positions = append(orders, orderID), append(positions, confirmed.header.Get("X-Event-Position"))
		}
		Expect(inst.stop()).To(Succeed())

		// The restarted instance rebuilds its memory read model from the store: like any other
		// instance, it is asked to wait for the confirm's position (read-your-writes).
		inst = startPaymentd(env)
		defer func() { Expect(inst.stop()).To(Succeed()) }()
		for i, orderID := range orders {
			state := call(http.MethodGet, inst.url+"/v1/payments/"+orderID+"?wait="+positions[i], nil)
			Expect(state.status).To(Equal(http.StatusOK))
			Expect(state.body["status"]).To(Equal("SUCCESS"))
		}
	})

	It("fails at start naming EVENTSTORE_URL when the server does not answer", func(ctx SpecContext) {
		url := emulator.URL()
		emulator.Stop()
		// paymentd waits up to storeConnectTimeout; a shutdown signal ends the wait sooner.
		startCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		err := run(startCtx, nil, envOf(map[string]string{"EVENTSTORE_URL": url, "PAYSTREAM_ADDR": "127.0.0.1:0",
			"TOSSSIM_ADDR": "127.0.0.1:0"}), io.Discard)
		Expect(err).To(MatchError(ContainSubstring("EVENTSTORE_URL")))
	})
})

var _ = Describe("LoadConfig with EVENTSTORE_URL", func() {
	It("accepts an insecure and a TLS connection string", func() {
		for _, url := range []string{"esdb://127.0.0.1:2113?tls=false", "esdb://admin:changeit@eventstoredb:2113"} {
			cfg, err := LoadConfig(nil, envOf(map[string]string{"EVENTSTORE_URL": url}))
			Expect(err).NotTo(HaveOccurred())
			Expect(cfg.EventStoreURL).To(Equal(url))
		}
	})

	It("lets -eventstore-url override it", func() {
		cfg, err := LoadConfig([]string{"-eventstore-url", "esdb://b:2113?tls=false"}, envOf(map[string]string{"EVENTSTORE_URL": "esdb://a:2113"}))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.EventStoreURL).To(Equal("esdb://b:2113?tls=false"))
	})

	DescribeTable("fails at start with a message naming EVENTSTORE_URL",
		func(env map[string]string, want string) {
			err := run(context.Background(), nil, envOf(env), io.Discard)
			Expect(err).To(MatchError(ContainSubstring("EVENTSTORE_URL")))
			Expect(err).To(MatchError(ContainSubstring(want)))
		},
		Entry("not a connection string", map[string]string{"EVENTSTORE_URL": "eventstoredb:2113"}, "esdb://"),
		Entry("a bad setting", map[string]string{"EVENTSTORE_URL": "esdb://127.0.0.1:2113?tls=perhaps"}, "connection string"),
		Entry("together with PAYSTREAM_DATA_DIR", map[string]string{"EVENTSTORE_URL": "esdb://127.0.0.1:2113?tls=false",
			"PAYSTREAM_DATA_DIR": "/tmp/x"}, "mutually exclusive"),
	)
})
