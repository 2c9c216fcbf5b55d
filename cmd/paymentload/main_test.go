package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
)

var _ = Describe("the bare handler (-serve-bare)", func() {
	var url string
	BeforeEach(func() {
		served := gbytes.NewBuffer()
		ctx, stop := context.WithCancel(context.Background())
		stopped := make(chan error, 1)
		go func() { stopped <- run(ctx, []string{"-serve-bare", "127.0.0.1:0"}, envOf(nil), served) }()
		DeferCleanup(func() { stop(); Eventually(stopped).Should(Receive(BeNil())) })
		Eventually(served).Should(gbytes.Say(`listening on http://\S+\n`))
		url = regexp.MustCompile(`http://\S+`).FindString(string(served.Contents()))
	})

	It("answers every flow, which paymentload counts and whose orderIds it writes for -check-done", func(ctx SpecContext) {
		ids := filepath.Join(GinkgoT().TempDir(), "ids")
		out := gbytes.NewBuffer()
		Expect(run(ctx, []string{"-url", url, "-sim", url, "-n", "50", "-c", "4", "-ids", ids}, envOf(nil), out)).To(Succeed())
		Expect(out).To(gbytes.Say(`confirmed: 50 `))
		Expect(out).To(gbytes.Say(`requests: \d+/s`))
		data, err := os.ReadFile(ids)
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Fields(string(data))).To(HaveLen(50))
	})

	It("keeps to -rate: flow i starts i/rate after the run's start, never sooner", func(ctx SpecContext) {
		out := gbytes.NewBuffer()
		Expect(run(ctx, []string{"-url", url, "-sim", url, "-n", "101", "-c", "8", "-rate", "400"}, envOf(nil), out)).To(Succeed())
		Expect(out).To(gbytes.Say(`confirmed: 101 `))
		elapsed := regexp.MustCompile(`elapsed: (\S+)`).FindStringSubmatch(string(out.Contents()))
		Expect(elapsed).To(HaveLen(2))
		d, err := time.ParseDuration(elapsed[1])
		Expect(err).NotTo(HaveOccurred())
		Expect(d).To(BeNumerically(">=", 250*time.Millisecond), "the 101st flow starts 100/400 s after the first")
	})

	It("decodes the body: one that is not JSON is refused", func() {
		resp, err := http.Post(url+"/v1/checkout", "application/json", strings.NewReader("{not json"))
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))
	})
})

func envOf(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }

var _ = Describe("schedule", func() {
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	It("gives flow i the time i/rate after the start", func() {
		due := schedule(start, 950)
		Expect(due(0)).To(Equal(start))
		Expect(due(1)).To(Equal(start.Add(time.Second / 950)))
		Expect(due(950)).To(Equal(start.Add(time.Second)))
		Expect(due(4750)).To(Equal(start.Add(5 * time.Second)))
	})
	It("lets every flow start at once without a rate", func() {
		Expect(schedule(start, 0)(12345)).To(Equal(start))
	})
})
