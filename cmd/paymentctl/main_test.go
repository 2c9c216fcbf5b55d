package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("paymentctl", func() {
	var (
		drift          bool
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
		srv = httptest.NewServer(mux)
		DeferCleanup(srv.Close)
	})
	env := func(string) string { return "" }

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

	Context("with bad usage", func() {
		It("exits 2", func(ctx SpecContext) {
			Expect(run(ctx, []string{"frobnicate"}, env, stdout, stderr)).To(Equal(2))
			Expect(run(ctx, nil, env, stdout, stderr)).To(Equal(2))
		})
	})
})
