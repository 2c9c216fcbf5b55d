package main

import (
	"bytes"
	"io"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("paymentchaos", func() {
	Context("a short seeded run over the whole stack", func() {
		It("injects every kind of fault and finds zero violations", func(ctx SpecContext) {
			var out bytes.Buffer
			err := run(ctx, []string{"-duration", "30s", "-seed", "18", "-rate", "4"}, func(string) string { return "" },
				io.MultiWriter(&out, GinkgoWriter))
			Expect(err).NotTo(HaveOccurred(), out.String())
			Expect(out.String()).To(ContainSubstring("violations: 0 (seed 18)"))
			Expect(out.String()).To(ContainSubstring("(converged)"))
			Expect(out.String()).To(MatchRegexp(`faults injected: [1-9]`))
		}, SpecTimeout(5*time.Minute))
	})

	Context("flags", func() {
		It("reports every bad flag at once", func() {
			_, err := parse([]string{"-duration", "0s", "-rate", "0"}, time.Now)
			Expect(err).To(MatchError(And(ContainSubstring("-duration"), ContainSubstring("-rate"))))
		})
	})
})
