package main

import (
	"io"
	"net/http"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("paymentd followers on /readyz and /metrics", func() {
	get := func(url string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		Expect(err).NotTo(HaveOccurred())
		authorize(req)
		resp, err := http.DefaultClient.Do(req)
		Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		Expect(err).NotTo(HaveOccurred())
		return resp.StatusCode, string(body)
	}

	It("shows every follower's progress and stays ready while they keep up", func(ctx SpecContext) {
		inst := startPaymentd(nil)
		DeferCleanup(inst.stop)
		orderID, key, amount := checkoutAndAuthorise(inst)
		Expect(call(http.MethodPost, inst.url+"/v1/payments/confirm", confirmBody(orderID, key, amount)).status).To(Equal(http.StatusOK))
		Eventually(func() any {
			return call(http.MethodGet, inst.url+"/v1/payments/"+orderID, nil).body["isPaymentDone"]
		}).WithContext(ctx).WithTimeout(15 * time.Second).Should(BeTrue())

		_, metrics := get(inst.url + "/metrics")
		for _, f := range []string{"projector", "forwarder", "ledger", "wallet", "completion"} {
			Expect(metrics).To(ContainSubstring(`paystream_follower_stalled{follower="` + f + `"} 0`))
			Expect(metrics).To(MatchRegexp(`paystream_follower_last_heartbeat_age_seconds\{follower="` + f + `"\} [0-9.e-]+\n`))
		}
		Eventually(func() string { _, m := get(inst.url + "/metrics"); return m }).WithContext(ctx).WithTimeout(10*time.Second).
			Should(MatchRegexp(`paystream_follower_behind\{follower="forwarder"\} 0\n`), "caught up once the idle checkpoint is committed")
		Consistently(func() int { code, _ := get(inst.url + "/readyz"); return code }).
			WithContext(ctx).WithTimeout(7*time.Second).WithPolling(time.Second).Should(Equal(http.StatusOK), "idle followers beat")
	})

	It("answers not ready within seconds, naming the follower, when one cannot make progress", func(ctx SpecContext) {
		// A Kafka nobody listens on: the forwarder and the completion consumer never get
		// through start-up.
		inst := startPaymentd(map[string]string{"KAFKA_BROKERS": freeAddr()})
		DeferCleanup(inst.stop)
		began := time.Now()
		Eventually(func() string {
			code, body := get(inst.url + "/readyz")
			if code != http.StatusServiceUnavailable {
				return ""
			}
			return body
		}).WithContext(ctx).WithTimeout(15 * time.Second).Should(ContainSubstring("follower forwarder stalled"))
		GinkgoWriter.Printf("not ready after %s\n", time.Since(began).Round(100*time.Millisecond))
		_, metrics := get(inst.url + "/metrics")
		Expect(metrics).To(ContainSubstring(`paystream_follower_stalled{follower="forwarder"} 1`))
		Expect(metrics).To(ContainSubstring(`paystream_follower_stalled{follower="projector"} 0`))
	})
})
