package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"

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

	It("decodes the body: one that is not JSON is refused", func() {
		resp, err := http.Post(url+"/v1/checkout", "application/json", strings.NewReader("{not json"))
		Expect(err).NotTo(HaveOccurred())
		resp.Body.Close()
		Expect(resp.StatusCode).To(Equal(http.StatusBadRequest))
	})
})

func envOf(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
