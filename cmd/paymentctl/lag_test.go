package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("paymentctl lag", func() {
	var (
		srv            *httptest.Server
		samples        atomic.Int64
		stdout, stderr *bytes.Buffer
	)
	BeforeEach(func() {
		samples.Store(0)
		stdout, stderr = &bytes.Buffer{}, &bytes.Buffer{}
		// A load of 3 samples (head 100, 200, 300) that the projection trails, then idle.
		srv = httptest.NewServer(requireKey(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := samples.Add(1)
			head, cp := min(n, 3)*100, min(n, 3)*100
			if n <= 3 {
				cp = head - 60
			}
			fmt.Fprintf(w, `{"checkpoint":%d,"head":%d,"behind":%d}`, cp, head, head-cp)
		})))
		DeferCleanup(srv.Close)
	})

	Context("without -watch", func() {
		It("prints one sample", func(ctx SpecContext) {
			Expect(run(ctx, []string{"-url", srv.URL, "lag"}, withKey, stdout, stderr)).To(Equal(0))
			Expect(stdout.String()).To(Equal("checkpoint 40 head 100 behind 60\n"))
		})
	})

	Context("with -watch", func() {
		It("reports the max lag and stops once caught up and idle", func(ctx SpecContext) {
			Expect(run(ctx, []string{"-url", srv.URL, "lag", "-watch", "-interval", "2ms", "-idle", "30ms"}, withKey, stdout, stderr)).To(Equal(0))
			Expect(stdout.String()).To(MatchRegexp(`max lag 60 events, \S+; caught up \S+ after the last append seen`))
		})

		It("refuses stray arguments", func(ctx SpecContext) {
			Expect(run(ctx, []string{"-url", srv.URL, "lag", "now"}, withKey, stdout, stderr)).To(Equal(2))
		})
	})
})
