package main

import (
	"fmt"
	"net/url"
	"os"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/shopspring/decimal"
	"go.yaml.in/yaml/v3"

	"github.com/paystream/paystream/access"
	"github.com/paystream/paystream/aggregate"
)

func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

var _ = Describe("LoadConfig", func() {
	It("runs the embedded default with no configuration", func() {
		cfg, err := LoadConfig(nil, envOf(nil))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.Addr).To(Equal("127.0.0.1:8080"))
		Expect(cfg.DataDir).To(BeEmpty())
		Expect(cfg.TossAPIURL).To(BeEmpty())
		Expect(cfg.OperatorAddr).To(BeEmpty(), "no operator listener unless asked for")
	})

	It("widens Go's scheduler most where fsyncs hold threads: with a data directory", func() {
		inMemory, err := LoadConfig(nil, envOf(nil))
		Expect(err).NotTo(HaveOccurred())
		Expect(schedulerWidth(inMemory)).To(Equal(3))
		for _, cfg := range []struct {
			args []string
			env  map[string]string
		}{{args: []string{"-data-dir", "/var/lib/paystream"}}, {env: map[string]string{"PAYSTREAM_DATA_DIR": "/var/lib/paystream"}}} {
			onDisk, err := LoadConfig(cfg.args, envOf(cfg.env))
			Expect(err).NotTo(HaveOccurred())
			Expect(schedulerWidth(onDisk)).To(Equal(4))
		}
	})

	It("lets flags override variables", func() {
		cfg, err := LoadConfig([]string{"-addr", "127.0.0.1:9999"}, envOf(map[string]string{"PAYSTREAM_ADDR": "127.0.0.1:1111"}))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.Addr).To(Equal("127.0.0.1:9999"))
	})

	It("lists its flags and the variables they override on -h", func() {
		_, err := LoadConfig([]string{"-h"}, envOf(nil))
		Expect(err).To(MatchError(ContainSubstring("-data-dir")))
		Expect(err.Error()).To(ContainSubstring("(PAYSTREAM_DATA_DIR)"))
	})

	It("reports every bad variable at once, by name", func() {
		_, err := LoadConfig(nil, envOf(map[string]string{
			"PAYSTREAM_ADDR":            "nonsense",
			"PAYSTREAM_OPERATOR_ADDR":   "6060",
			"PAYSTREAM_CONFIRM_TIMEOUT": "soon",
			"PAYSTREAM_LOG_LEVEL":       "loud",
			"TOSS_API_URL":              "ftp://toss",
		}))
		Expect(err).To(HaveOccurred())
		for _, name := range []string{"PAYSTREAM_ADDR", "PAYSTREAM_OPERATOR_ADDR", "PAYSTREAM_CONFIRM_TIMEOUT", "PAYSTREAM_LOG_LEVEL", "TOSS_API_URL", "TOSS_SECRET_KEY"} {
			Expect(err.Error()).To(ContainSubstring(name))
		}
	})

	It("needs API keys unless no real money can move, and checks them at start", func() {
		live := map[string]string{"TOSS_API_URL": "https://api.tosspayments.com", "TOSS_SECRET_KEY": "live_sk_x"}
		_, err := LoadConfig(nil, envOf(live))
		Expect(err).To(MatchError(ContainSubstring("PAYSTREAM_API_KEYS: no API key is configured")))
		cfg, err := LoadConfig(nil, envOf(nil))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.Access.DevKeys).To(BeTrue(), "the embedded default makes development keys")
		_, err = LoadConfig(nil, envOf(map[string]string{"PAYSTREAM_API_KEYS": "shop:merchant:psk_oops", "PAYSTREAM_API_KEYS_FILE": "/nonexistent",
			"PAYSTREAM_RATE_LIMIT": "fast"}))
		Expect(err).To(MatchError(ContainSubstring("PAYSTREAM_API_KEYS: line 1 entry 1")))
		Expect(err).To(MatchError(ContainSubstring("PAYSTREAM_API_KEYS_FILE: open /nonexistent")))
		Expect(err).To(MatchError(ContainSubstring("PAYSTREAM_RATE_LIMIT")))
		Expect(err.Error()).NotTo(ContainSubstring("psk_oops"))
		cfg, err = LoadConfig([]string{"-rate-limit", "20/s"}, envOf(nil))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.Access.WriteRate).To(Equal(access.Rate{PerSecond: 20, Burst: 20}))
	})

	It("bounds checkouts by default, as a Korean shop would", func() {
		cfg, err := LoadConfig(nil, envOf(nil))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.Limits.MaxLineQuantity).To(Equal(int64(999)))
		Expect(cfg.Limits.MaxLines).To(Equal(100))
		Expect(cfg.Limits.MaxTotal).To(Equal(decimal.NewFromInt(10_000_000)))
	})

	It("takes checkout limits from variables, and flags over them", func() {
		cfg, err := LoadConfig([]string{"-max-lines", "20"}, envOf(map[string]string{
			"PAYSTREAM_MAX_LINE_QUANTITY": "50", "PAYSTREAM_MAX_LINES": "10", "PAYSTREAM_MAX_CHECKOUT_AMOUNT": "30000000"}))
		Expect(err).NotTo(HaveOccurred())
		Expect(cfg.Limits).To(Equal(aggregate.Limits{MaxLineQuantity: 50, MaxLines: 20, MaxTotal: decimal.NewFromInt(30_000_000)}))
		Expect(cfg.Limits.Validate()).To(Succeed())
	})

	It("takes a webhook secret key of 32 characters or more, and keys deposit secrets without one", func() {
		_, err := LoadConfig(nil, envOf(map[string]string{"PAYSTREAM_WEBHOOK_SECRET_KEY": "short"}))
		Expect(err).To(MatchError(ContainSubstring("PAYSTREAM_WEBHOOK_SECRET_KEY: ")))
		cfg, err := LoadConfig(nil, envOf(map[string]string{"PAYSTREAM_WEBHOOK_SECRET_KEY": "0123456789abcdef0123456789abcdef"}))
		Expect(err).NotTo(HaveOccurred())
		Expect(fmt.Sprint(cfg.WebhookSecretKey)).NotTo(ContainSubstring("0123"), "redacted")
		key, err := depositSecretKey(cfg)
		Expect(err).NotTo(HaveOccurred())
		Expect(string(key)).To(Equal("0123456789abcdef0123456789abcdef"))

		dir := GinkgoT().TempDir()
		cfg, err = LoadConfig(nil, envOf(map[string]string{"PAYSTREAM_DATA_DIR": dir}))
		Expect(err).NotTo(HaveOccurred())
		first, err := depositSecretKey(cfg)
		Expect(err).NotTo(HaveOccurred())
		again, err := depositSecretKey(cfg)
		Expect(err).NotTo(HaveOccurred())
		Expect(again).To(Equal(first), "the embedded default keeps its key across restarts")
		Expect(len(first)).To(BeNumerically(">=", 32))
	})

	DescribeTable("refuses checkout limits outside what a payment can carry, by name",
		func(name, value string) {
			_, err := LoadConfig(nil, envOf(map[string]string{name: value}))
			Expect(err).To(MatchError(ContainSubstring(name + ": ")))
		},
		Entry("a zero quantity cap", "PAYSTREAM_MAX_LINE_QUANTITY", "0"),
		Entry("a quantity cap in exponent notation", "PAYSTREAM_MAX_LINE_QUANTITY", "1e3"),
		Entry("a quantity cap above 2^53−1", "PAYSTREAM_MAX_LINE_QUANTITY", "9007199254740992"),
		Entry("a negative line cap", "PAYSTREAM_MAX_LINES", "-1"),
		Entry("more lines than one event holds", "PAYSTREAM_MAX_LINES", "1001"),
		Entry("a total cap below Toss's 100 KRW minimum", "PAYSTREAM_MAX_CHECKOUT_AMOUNT", "99"),
		Entry("a fractional total cap", "PAYSTREAM_MAX_CHECKOUT_AMOUNT", "1000.5"),
		Entry("a total cap beyond int64", "PAYSTREAM_MAX_CHECKOUT_AMOUNT", "99999999999999999999"),
	)

	It("never prints the secret key", func() {
		cfg, err := LoadConfig(nil, envOf(map[string]string{"TOSS_API_URL": "https://api.tosspayments.com", "TOSS_SECRET_KEY": "live_sk_very_secret",
			"PAYSTREAM_API_KEYS": "shop:merchant:sha256:" + strings.Repeat("ab", 32)}))
		Expect(err).NotTo(HaveOccurred())
		var buf strings.Builder
		newLogger(cfg, &buf).Info("config", "toss_key", cfg.TossSecretKey)
		Expect(buf.String()).NotTo(ContainSubstring("very_secret"))
	})
})

var _ = Describe("compose.yaml", func() {
	type service struct {
		Environment map[string]string `yaml:"environment"`
	}
	var doc struct {
		Services map[string]service `yaml:"services"`
	}
	BeforeEach(func() {
		data, err := os.ReadFile("../../compose.yaml")
		Expect(err).NotTo(HaveOccurred())
		Expect(yaml.Unmarshal(data, &doc)).To(Succeed())
	})

	It("sets only variables paymentd reads, and a configuration it accepts", func() {
		env := doc.Services["paymentd"].Environment
		Expect(env).NotTo(BeEmpty())
		for k := range env {
			Expect(configVars).To(ContainElement(k), "paymentd does not read %s", k)
		}
		_, err := LoadConfig(nil, envOf(env))
		Expect(err).NotTo(HaveOccurred())
	})

	It("points paymentd at the simulator with a key the simulator accepts", func() {
		pay, sim := doc.Services["paymentd"].Environment, doc.Services["tosssim"].Environment
		u, err := url.Parse(pay["TOSS_API_URL"])
		Expect(err).NotTo(HaveOccurred())
		Expect(u.Hostname()).To(Equal("tosssim"))
		Expect(sim["TOSSSIM_ADDR"]).To(HaveSuffix(":" + u.Port()))
		Expect(strings.Split(sim["TOSSSIM_SECRET_KEYS"], ",")).To(ContainElement(pay["TOSS_SECRET_KEY"]))
	})
})
