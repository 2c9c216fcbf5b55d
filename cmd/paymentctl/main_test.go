package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("paymentctl", func() {
	var (
		drift          bool
		allocated      map[string]any // the last allocation paymentd received
		srv            *httptest.Server
		stdout, stderr *bytes.Buffer
	)
	BeforeEach(func() {
		drift, stdout, stderr = false, &bytes.Buffer{}, &bytes.Buffer{}
		mux := http.NewServeMux()
		mux.HandleFunc("POST /admin/v1/readmodel/verify", func(w http.ResponseWriter, r *http.Request) {
			if drift {
				fmt.Fprint(w, `{"checkpoint":9,"payments":2,"events":6,"drift":[{"orderId":"order-1","diffs":["payment.status: want SUCCESS, got EXECUTING"]}]}`)
				return
			}
			fmt.Fprint(w, `{"checkpoint":9,"payments":2,"events":6,"drift":null}`)
		})
		mux.HandleFunc("POST /admin/v1/readmodel/rebuild", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "rebuilt 3 of 9\nrebuilt 9 of 9\ndone 9\n")
		})
		mux.HandleFunc("GET /admin/v1/payments/attention", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"escalated":[{"orderId":"order-9","status":"UNKNOWN","totalAmount":"3000","failedCount":5,
				"updatedAt":"2026-11-25T01:00:00Z","outcome":{"rule":"recovery.v1/escalated","message":"still UNKNOWN"}}],"open":[]}`)
		})
		mux.HandleFunc("POST /admin/v1/payments/{orderId}/resolve", func(w http.ResponseWriter, r *http.Request) {
			var body map[string]any
			_ = json.NewDecoder(r.Body).Decode(&body)
			if body["force"] != true && body["resolution"] == "SUCCESS" {
				w.WriteHeader(http.StatusConflict)
				fmt.Fprint(w, `{"title":"The resolution contradicts Toss's record","detail":"the PSP says FAILURE"}`)
				return
			}
			fmt.Fprintf(w, `{"orderId":%q,"status":%q}`, r.PathValue("orderId"), body["resolution"])
		})
		mux.HandleFunc("POST /admin/v1/payments/{orderId}/refunds/{refundId}/allocate", func(w http.ResponseWriter, r *http.Request) {
			allocated = nil
			_ = json.NewDecoder(r.Body).Decode(&allocated)
			allocated["refundId"] = r.PathValue("refundId")
			fmt.Fprintf(w, `{"orderId":%q,"status":"CANCELED"}`, r.PathValue("orderId"))
		})
		srv = httptest.NewServer(requireKey(mux))
		DeferCleanup(srv.Close)
	})
	env := withKey

	Context("verify", func() {
		It("exits 0 when the rows match the streams", func(ctx SpecContext) {
			Expect(run(ctx, []string{"-url", srv.URL, "verify"}, env, stdout, stderr)).To(Equal(0))
			Expect(stdout.String()).To(ContainSubstring("verified 2 payments, 6 events up to position 9: 0 drifted"))
		})
		It("prints the drift and exits 1", func(ctx SpecContext) {
			drift = true
			Expect(run(ctx, []string{"-url", srv.URL, "verify"}, env, stdout, stderr)).To(Equal(1))
			Expect(stdout.String()).To(ContainSubstring("DRIFT order-1\n  payment.status: want SUCCESS, got EXECUTING"))
		})
	})

	Context("rebuild", func() {
		It("shows progress on stderr and the result on stdout", func(ctx SpecContext) {
			Expect(run(ctx, []string{"-url", srv.URL, "rebuild"}, env, stdout, stderr)).To(Equal(0))
			Expect(stderr.String()).To(ContainSubstring("100%"))
			Expect(stdout.String()).To(Equal("rebuilt; checkpoint 9\n"))
		})
	})

	Context("attention and resolve", func() {
		It("lists escalated payments and fails so scripts can alert", func(ctx SpecContext) {
			Expect(run(ctx, []string{"-url", srv.URL, "attention"}, env, stdout, stderr)).To(Equal(1))
			Expect(stdout.String()).To(MatchRegexp(`escalated\s+order-9\s+UNKNOWN\s+3000\s+5`))
			Expect(stderr.String()).To(ContainSubstring("1 payment(s) escalated"))
		})
		It("records a resolution, and reports Toss's contradiction", func(ctx SpecContext) {
			args := []string{"-url", srv.URL, "resolve", "-order", "order-9", "-actor", "ops:kim", "-reason", "checked"}
			Expect(run(ctx, append(args, "-as", "FAILURE"), env, stdout, stderr)).To(Equal(0))
			Expect(stdout.String()).To(ContainSubstring("order-9 is now FAILURE"))
			Expect(run(ctx, append(args, "-as", "SUCCESS"), env, stdout, stderr)).To(Equal(1))
			Expect(stderr.String()).To(ContainSubstring("HTTP 409"))
			Expect(run(ctx, []string{"-url", srv.URL, "resolve", "-order", "order-9"}, env, stdout, stderr)).To(Equal(2))
		})
	})

	Context("allocate", func() {
		It("sends which orders a refund made at Toss came from, with the reason", func(ctx SpecContext) {
			Expect(run(ctx, []string{"-url", srv.URL, "allocate", "-order", "order-9", "-refund", "order-9-x-tx1",
				"-split", "1:12500, 2:5000", "-reason", "the card company returned both"}, env, stdout, stderr)).To(Equal(0))
			Expect(allocated).To(Equal(map[string]any{"refundId": "order-9-x-tx1", "reason": "the card company returned both",
				"orders": []any{map[string]any{"seq": float64(1), "amount": float64(12500)}, map[string]any{"seq": float64(2), "amount": float64(5000)}}}))
			Expect(stdout.String()).To(ContainSubstring("order-9-x-tx1 of order-9 is allocated"))
		})
		It("refuses a malformed split before calling paymentd", func(ctx SpecContext) {
			allocated = nil
			for _, split := range []string{"1=12500", "x:100", "1:1e3", "1:-5", "1:012"} {
				Expect(run(ctx, []string{"-url", srv.URL, "allocate", "-order", "order-9", "-refund", "r", "-split", split, "-reason", "r"},
					env, stdout, stderr)).To(Equal(2), split)
			}
			Expect(stderr.String()).To(ContainSubstring("SEQ:AMOUNT"))
			Expect(allocated).To(BeNil())
		})
	})

	Context("with API keys", func() {
		It("sends the key from -key or PAYSTREAM_API_KEY and says when paymentd refuses it", func(ctx SpecContext) {
			Expect(run(ctx, []string{"-url", srv.URL, "-key", testKey, "verify"}, func(string) string { return "" }, stdout, stderr)).To(Equal(0))
			Expect(run(ctx, []string{"-url", srv.URL, "verify"}, func(string) string { return "" }, stdout, stderr)).To(Equal(1))
			Expect(stderr.String()).To(ContainSubstring("HTTP 401: An API key is required"))
			Expect(stderr.String()).NotTo(ContainSubstring(testKey))
		})
		It("makes a key and its configuration line", func(ctx SpecContext) {
			Expect(run(ctx, []string{"key", "new", "ops:kim", "operator"}, env, stdout, stderr)).To(Equal(0))
			Expect(stdout.String()).To(MatchRegexp(`key:  psk_\S+\nline: ops:kim operator sha256:[0-9a-f]{64}\n`))
			Expect(run(ctx, []string{"key", "new", "ops", "admin"}, env, stdout, stderr)).To(Equal(2))
		})
	})

	Context("with bad usage", func() {
		It("exits 2", func(ctx SpecContext) {
			Expect(run(ctx, []string{"frobnicate"}, env, stdout, stderr)).To(Equal(2))
			Expect(run(ctx, nil, env, stdout, stderr)).To(Equal(2))
		})
	})
})
