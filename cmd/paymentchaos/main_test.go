package main

// The seeded chaos run itself is not a spec yet: it found a wallet consumer that does not
// resume after a broker kill -9 in about one run in three (seed 18 reproduces it now and
// then; see README "Chaos run"), and the suite must be green every time. Run it with
// `go run ./cmd/paymentchaos -seed 18 -duration 30s`.

import (
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("paymentchaos", func() {
	Context("flags", func() {
		It("reports every bad flag at once", func() {
			_, err := parse([]string{"-duration", "0s", "-rate", "0"}, time.Now)
			Expect(err).To(MatchError(And(ContainSubstring("-duration"), ContainSubstring("-rate"))))
		})
	})
})
