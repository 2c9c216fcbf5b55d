package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"time"

	"github.com/go-json-experiment/json/v1"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/shopspring/decimal"

	"github.com/paystream/paystream/toss"
)

func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

var _ = Describe("run", func() {
	Context("with a valid configuration", func() {
		It("serves the simulator until its context ends", func(ctx SpecContext) {
			runCtx, stop := context.WithCancel(ctx)
			defer stop()
			out := gbytes.NewBuffer()
			done := make(chan error, 1)
			go func() {
				done <- run(runCtx, nil, env(map[string]string{
					"TOSSSIM_ADDR":        "127.0.0.1:0",
					"TOSSSIM_SECRET_KEYS": "test_sk_first, test_sk_second",
					"TOSSSIM_SEED":        "9",
				}), out)
			}()

			Eventually(out).WithContext(ctx).Should(gbytes.Say(`"msg":"listening"`))
			addr := regexp.MustCompile(`"addr":"([^"]+)"`).FindSubmatch(out.Contents())
			Expect(addr).NotTo(BeNil())
			baseURL := "http://" + string(addr[1])

			By("authorising a payment as the buyer's widget would")
			resp, err := http.Post(baseURL+"/sim/v1/sessions", "application/json", strings.NewReader(`{"orderId":"order-cmd-1","amount":15000}`))
			Expect(err).NotTo(HaveOccurred())
			var session struct{ PaymentKey string }
			Expect(decodeJSON(resp, &session)).To(Succeed())
			Expect(resp.StatusCode).To(Equal(http.StatusCreated))

			By("confirming it with a configured key")
			req := toss.ConfirmRequest{PaymentKey: session.PaymentKey, OrderID: "order-cmd-1", Amount: decimal.NewFromInt(15000)}
			_, err = toss.NewClient(baseURL, "test_sk_unknown").Confirm(ctx, req, "")
			var apiErr *toss.APIError
			Expect(errors.As(err, &apiErr)).To(BeTrue())
			Expect(apiErr.Code).To(Equal("UNAUTHORIZED_KEY"))
			p, err := toss.NewClient(baseURL, "test_sk_second").Confirm(ctx, req, "confirm-order-cmd-1")
			Expect(err).NotTo(HaveOccurred())
			Expect(p.Status).To(Equal(toss.StatusDone))

			stop()
			Eventually(done).WithContext(ctx).Should(Receive(BeNil()))
			Expect(out).To(gbytes.Say(`"msg":"stopped"`))
			_, err = http.Get(baseURL + "/sim/v1/stats")
			Expect(err).To(HaveOccurred())
		})
	})

	Context("with a webhook URL", func() {
		It("delivers Toss's webhooks there", func(ctx SpecContext) {
			bodies := make(chan string, 8)
			receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				bodies <- r.Header.Get("Tosspayments-Webhook-Transmission-Retried-Count") + " " + string(b)
			}))
			DeferCleanup(receiver.Close)
			runCtx, stop := context.WithCancel(ctx)
			defer stop()
			out := gbytes.NewBuffer()
			done := make(chan error, 1)
			go func() {
				done <- run(runCtx, nil, env(map[string]string{"TOSSSIM_ADDR": "127.0.0.1:0",
					"TOSSSIM_WEBHOOK_URL": receiver.URL + "/v1/webhooks/toss", "TOSSSIM_WEBHOOK_RETRY_SCALE": "60000"}), out)
			}()
			Eventually(out).WithContext(ctx).Should(gbytes.Say(`"msg":"listening"`))
			Expect(string(out.Contents())).To(ContainSubstring(`"webhook_url":"` + receiver.URL + `/v1/webhooks/toss"`))
			baseURL := "http://" + string(regexp.MustCompile(`"addr":"([^"]+)"`).FindSubmatch(out.Contents())[1])

			resp, err := http.Post(baseURL+"/sim/v1/sessions", "application/json", strings.NewReader(`{"orderId":"order-cmd-2","amount":15000,"method":"VIRTUAL_ACCOUNT"}`))
			Expect(err).NotTo(HaveOccurred())
			var session struct{ PaymentKey string }
			Expect(decodeJSON(resp, &session)).To(Succeed())
			_, err = toss.NewClient(baseURL, "test_sk_any").Confirm(ctx,
				toss.ConfirmRequest{PaymentKey: session.PaymentKey, OrderID: "order-cmd-2", Amount: decimal.NewFromInt(15000)}, "")
			Expect(err).NotTo(HaveOccurred())
			// Two workers deliver them: either may arrive first.
			var got []string
			for range 2 {
				var b string
				Eventually(bodies).WithContext(ctx).WithTimeout(10 * time.Second).Should(Receive(&b))
				got = append(got, b)
			}
			Expect(got).To(ConsistOf(
				And(HavePrefix("0 "), ContainSubstring(`"eventType":"PAYMENT_STATUS_CHANGED"`)),
				And(HavePrefix("0 "), ContainSubstring(`"secret":"ps_`))))

			stop()
			Eventually(done).WithContext(ctx).Should(Receive(BeNil()))
		})
	})

	Context("with a data directory", func() {
		It("finds its payments there again after a restart", func(ctx SpecContext) {
			dir := GinkgoT().TempDir()
			start := func() (baseURL string, stop func()) {
				runCtx, cancel := context.WithCancel(ctx)
				out := gbytes.NewBuffer()
				done := make(chan error, 1)
				go func() {
					done <- run(runCtx, []string{"-data-dir", dir}, env(map[string]string{"TOSSSIM_ADDR": "127.0.0.1:0"}), out)
				}()
				Eventually(out).WithContext(ctx).Should(gbytes.Say(`"msg":"listening"`))
				Expect(string(out.Contents())).To(ContainSubstring(`"data_dir":"` + dir + `"`))
				return "http://" + string(regexp.MustCompile(`"addr":"([^"]+)"`).FindSubmatch(out.Contents())[1]), func() {
					cancel()
					Eventually(done).WithContext(ctx).Should(Receive(BeNil()))
				}
			}

			baseURL, stop := start()
			resp, err := http.Post(baseURL+"/sim/v1/sessions", "application/json", strings.NewReader(`{"orderId":"order-cmd-3","amount":15000}`))
			Expect(err).NotTo(HaveOccurred())
			var session struct{ PaymentKey string }
			Expect(decodeJSON(resp, &session)).To(Succeed())
			_, err = toss.NewClient(baseURL, "test_sk_any").Confirm(ctx,
				toss.ConfirmRequest{PaymentKey: session.PaymentKey, OrderID: "order-cmd-3", Amount: decimal.NewFromInt(15000)}, "")
			Expect(err).NotTo(HaveOccurred())
			stop()

			baseURL, stop = start()
			defer stop()
			p, err := toss.NewClient(baseURL, "test_sk_any").PaymentByOrderID(ctx, "order-cmd-3")
			Expect(err).NotTo(HaveOccurred())
			Expect(p.PaymentKey).To(Equal(session.PaymentKey))
			Expect(p.Status).To(Equal(toss.StatusDone))
		})
	})

	Context("with an invalid configuration", func() {
		DescribeTable("fails at start naming what is wrong",
			func(ctx SpecContext, args []string, vars map[string]string, want []string) {
				out := gbytes.NewBuffer()
				err := run(ctx, args, env(vars), out)
				Expect(err).To(HaveOccurred())
				for _, w := range want {
					Expect(err.Error()).To(ContainSubstring(w))
				}
				Expect(out.Contents()).To(BeEmpty())
			},
			Entry("a seed that is not a number", nil, map[string]string{"TOSSSIM_SEED": "abc"}, []string{"TOSSSIM_SEED"}),
			Entry("an address without a port", nil, map[string]string{"TOSSSIM_ADDR": "localhost"}, []string{"TOSSSIM_ADDR"}),
			Entry("an empty secret key", nil, map[string]string{"TOSSSIM_SECRET_KEYS": "test_sk_a,,test_sk_b"}, []string{"TOSSSIM_SECRET_KEYS", "entry 2"}),
			Entry("every problem at once", nil, map[string]string{"TOSSSIM_SEED": "x", "TOSSSIM_ADDR": "y"}, []string{"TOSSSIM_SEED", "TOSSSIM_ADDR"}),
			Entry("a webhook URL without a scheme", nil, map[string]string{"TOSSSIM_WEBHOOK_URL": "localhost:8080/hook"}, []string{"TOSSSIM_WEBHOOK_URL"}),
			Entry("a webhook URL without a host", nil, map[string]string{"TOSSSIM_WEBHOOK_URL": "http:///v1/webhooks/toss"}, []string{"TOSSSIM_WEBHOOK_URL"}),
			Entry("a retry scale below 1", nil, map[string]string{"TOSSSIM_WEBHOOK_RETRY_SCALE": "0.5"}, []string{"TOSSSIM_WEBHOOK_RETRY_SCALE"}),
			Entry("a retry scale that is not a number", nil, map[string]string{"TOSSSIM_WEBHOOK_RETRY_SCALE": "fast"}, []string{"TOSSSIM_WEBHOOK_RETRY_SCALE"}),
			Entry("a bad flag value", []string{"-addr", "nowhere"}, nil, []string{"-addr"}),
			Entry("an unknown flag", []string{"-port", "1"}, nil, []string{"-port"}),
			Entry("a data directory that cannot be made", nil, map[string]string{"TOSSSIM_DATA_DIR": "/proc/no-such-place/tosssim"},
				[]string{"TOSSSIM_DATA_DIR", "/proc/no-such-place/tosssim"}),
		)

		It("never echoes a secret key in the error", func(ctx SpecContext) {
			err := run(ctx, nil, env(map[string]string{"TOSSSIM_SECRET_KEYS": "test_sk_fine,test_sk:secretpart"}), gbytes.NewBuffer())
			Expect(err).To(MatchError(ContainSubstring("TOSSSIM_SECRET_KEYS")))
			Expect(err.Error()).NotTo(ContainSubstring("secretpart"))
		})
	})
})

var _ = Describe("loadConfig", func() {
	It("defaults to 127.0.0.1:8090, seed 0 and any test key", func() {
		cfg, err := loadConfig(nil, env(nil))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg).To(Equal(config{addr: "127.0.0.1:8090"}))
	})

	It("lets flags override the environment", func() {
		cfg, err := loadConfig([]string{"-addr", "127.0.0.1:9999", "-seed", "5"},
			env(map[string]string{"TOSSSIM_ADDR": "127.0.0.1:1234", "TOSSSIM_SEED": "4", "TOSSSIM_SECRET_KEYS": "test_sk_a"}))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg).To(Equal(config{addr: "127.0.0.1:9999", seed: 5, secretKeys: []string{"test_sk_a"}}))
	})

	It("reads the data directory from TOSSSIM_DATA_DIR, which -data-dir overrides", func() {
		cfg, err := loadConfig(nil, env(map[string]string{"TOSSSIM_DATA_DIR": "/var/lib/tosssim"}))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.dataDir).To(Equal("/var/lib/tosssim"))
		cfg, err = loadConfig([]string{"-data-dir", "/tmp/sim"}, env(map[string]string{"TOSSSIM_DATA_DIR": "/var/lib/tosssim"}))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.dataDir).To(Equal("/tmp/sim"))
	})

	It("reads the webhook URL and retry scale", func() {
		cfg, err := loadConfig(nil, env(map[string]string{"TOSSSIM_WEBHOOK_URL": "https://shop.example/v1/webhooks/toss", "TOSSSIM_WEBHOOK_RETRY_SCALE": "60"}))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.webhookURL).To(Equal("https://shop.example/v1/webhooks/toss"))
		Expect(cfg.webhookScale).To(Equal(60.0))
	})
})

func decodeJSON(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
