package main

import (
	"io"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// scrape returns GET /metrics as the operator sees it.
func scrape(inst instance) string {
	GinkgoHelper()
	req, err := http.NewRequest(http.MethodGet, inst.url+"/metrics", nil)
	Expect(err).NotTo(HaveOccurred())
	authorize(req)
	resp, err := http.DefaultClient.Do(req)
	Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	Expect(resp.StatusCode).To(Equal(http.StatusOK))
	body, err := io.ReadAll(resp.Body)
	Expect(err).NotTo(HaveOccurred())
	return string(body)
}

var _ = Describe("paymentd /metrics (Prometheus client)", func() {
	It("shows latencies by outcome, requests by route and status, open and escalated payments, followers and the Go runtime", func(ctx SpecContext) {
		inst := startPaymentd(nil)
		DeferCleanup(inst.stop)
		orderID, key, amount := checkoutAndAuthorise(inst)
		Expect(call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, key, amount)).status).To(Equal(http.StatusOK))
		Expect(call(http.MethodGet, inst.url+"/v1/payments/"+orderID, nil).status).To(Equal(http.StatusOK))
		Expect(call(http.MethodGet, inst.url+"/admin/v1/readmodel/status", nil).status).To(Equal(http.StatusOK))
		req, _ := http.NewRequest(http.MethodGet, inst.url+"/v1/payments", nil)
		resp, err := http.DefaultClient.Do(req) // no key: refused, counted by reason
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()

		Eventually(func() string { return scrape(inst) }).WithContext(ctx).WithTimeout(10 * time.Second).Should(And(
			ContainSubstring(`paystream_confirm_duration_seconds_count{outcome="SUCCESS"} 1`+"\n"),
			ContainSubstring(`paystream_psp_request_duration_seconds_count{operation="confirm",outcome="SUCCESS"} 1`+"\n"),
			ContainSubstring(`paystream_http_requests_total{code="200",method="POST",route="/v1/payments/confirm"} 1`+"\n"),
			ContainSubstring(`paystream_http_requests_total{code="200",method="GET",route="/v1/payments/{orderId}"} 1`+"\n"),
			ContainSubstring(`paystream_http_requests_total{code="200",method="GET",route="/admin/v1/readmodel/status"} 1`+"\n"),
			ContainSubstring(`paystream_http_request_duration_seconds_bucket{method="POST",route="/v1/payments/confirm",le="+Inf"} 1`+"\n"),
			ContainSubstring("paystream_payments_escalated 0\n"),
			ContainSubstring("paystream_payments_open 0\n"),
			ContainSubstring(`paystream_psp_outcomes_total{status="SUCCESS"} 1`+"\n"),
			ContainSubstring(`paystream_auth_failures_total{reason="missing"} 1`+"\n"),
			MatchRegexp(`paystream_follower_behind\{follower="projector"\} \d+\n`),
			MatchRegexp(`go_goroutines \d+\n`),
			MatchRegexp(`go_memstats_heap_alloc_bytes [0-9.e+]+\n`),
		))
	})
})
