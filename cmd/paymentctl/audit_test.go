package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("paymentctl audit", func() {
	var (
		srv            *httptest.Server
		stdout, stderr *bytes.Buffer
	)
	BeforeEach(func() {
		stdout, stderr = &bytes.Buffer{}, &bytes.Buffer{}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /audit/v1/payments/{orderId}/timeline", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"timeline":[{"revision":0,"type":"payment.checkout-created.v1","recordedAt":"2026-11-25T01:00:00Z","actor":"shop","state":{"status":"NOT_STARTED"},"hash":"sha256:aa"},
				{"revision":2,"type":"payment.psp-approved.v1","recordedAt":"2026-11-25T01:01:00Z","actor":"shop","why":{"rule":"toss.v3/done-matching","ruleVersion":"toss.v3"},"downstreamMessageIds":["e2"],"state":{"status":"SUCCESS"}}]}`)
		})
		mux.HandleFunc("GET /audit/v1/payments/{orderId}", func(w http.ResponseWriter, r *http.Request) {
			Expect(r.URL.Query().Get("asOf")).To(Equal("1"))
			fmt.Fprint(w, `{"asOf":{"revision":1},"payment":{"status":"EXECUTING","totalAmount":"48500"}}`)
		})
		mux.HandleFunc("GET /audit/v1/payments/{orderId}/verify", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"stream":"payment-order-9","events":5,"preChain":0,"intact":false,"findings":[{"revision":1,"kind":"removed","detail":"the event written at revision 1 is missing before revision 1"}]}`)
		})
		mux.HandleFunc("GET /audit/v1/verify", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "{\"total\":200}\n{\"verified\":100}\n{\"stream\":\"payment-order-9\",\"events\":5,\"intact\":false,\"findings\":[{\"revision\":3,\"kind\":\"edited\",\"detail\":\"x\"}]}\n{\"verified\":200}\n{\"summary\":{\"streams\":200,\"intact\":199,\"tampered\":1,\"preChainEvents\":4}}\n")
		})
		srv = httptest.NewServer(requireKey(mux))
		DeferCleanup(srv.Close)
	})

	It("shows a payment's timeline with the why of each decision", func(ctx SpecContext) {
		Expect(run(ctx, []string{"-url", srv.URL, "audit", "show", "order-9"}, withKey, stdout, stderr)).To(Equal(0))
		Expect(stdout.String()).To(MatchRegexp(`2  2026-11-25T01:01:00Z  payment.psp-approved.v1\s+→ SUCCESS\s+by shop`))
		Expect(stdout.String()).To(ContainSubstring("why: rule toss.v3/done-matching"))
		Expect(stdout.String()).To(ContainSubstring("downstream: e2"))
	})

	It("shows the payment as of a revision", func(ctx SpecContext) {
		Expect(run(ctx, []string{"-url", srv.URL, "audit", "show", "order-9", "-as-of", "1"}, withKey, stdout, stderr)).To(Equal(0))
		Expect(stdout.String()).To(ContainSubstring("order-9 as of revision 1: EXECUTING, total 48500"))
	})

	It("verifies one payment and exits 1 naming the revision when tampered", func(ctx SpecContext) {
		Expect(run(ctx, []string{"-url", srv.URL, "audit", "verify", "order-9"}, withKey, stdout, stderr)).To(Equal(1))
		Expect(stdout.String()).To(ContainSubstring("payment-order-9: TAMPERED (5 events, 0 pre-chain)\n  revision 1: removed"))
	})

	It("verifies every payment with a progress bar", func(ctx SpecContext) {
		Expect(run(ctx, []string{"-url", srv.URL, "audit", "verify", "-all"}, withKey, stdout, stderr)).To(Equal(1))
		Expect(stderr.String()).To(ContainSubstring("50% 100 of 200"))
		Expect(stderr.String()).To(ContainSubstring("100% 200 of 200"))
		Expect(stdout.String()).To(ContainSubstring("revision 3: edited"))
		Expect(stdout.String()).To(ContainSubstring("verified 200 payments: 199 intact, 1 tampered, 4 pre-chain events"))
	})

	It("refuses bad usage", func(ctx SpecContext) {
		Expect(run(ctx, []string{"-url", srv.URL, "audit", "verify"}, withKey, stdout, stderr)).To(Equal(2))
		Expect(run(ctx, []string{"-url", srv.URL, "audit", "verify", "order-9", "-all"}, withKey, stdout, stderr)).To(Equal(2))
	})
})
