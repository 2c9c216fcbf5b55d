package main

import (
	"context"
	"io"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("run", func() {
	Context("with bad configuration", func() {
		It("names every bad variable", func() {
			env := map[string]string{"WALLET_LOG_LEVEL": "loud"}
			err := run(context.Background(), nil, func(k string) string { return env[k] }, io.Discard)
			Expect(err).To(MatchError(And(ContainSubstring("KAFKA_BROKERS"), ContainSubstring("WALLET_LOG_LEVEL"))))
		})
	})
})
