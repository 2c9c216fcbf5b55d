package kafka_test

import (
	"context"
	"errors"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/paystream/paystream/kafka"
)

var _ = Describe("Config", func() {
	DescribeTable("ParseBrokers",
		func(list string, required bool, brokers, problems []string) {
			gotBrokers, gotProblems := kafka.ParseBrokers(list, required)
			Expect(gotBrokers).To(Equal(brokers))
			Expect(gotProblems).To(Equal(problems))
		},
		Entry("a list, blanks skipped", " a:1, ,b:2 ", true, []string{"a:1", "b:2"}, nil),
		Entry("not host:port", "nohost", false, []string{"nohost"}, []string{`"nohost" is not host:port`}),
		Entry("empty, optional: the in-process broker", "", false, nil, nil),
		Entry("empty, required", "", true, nil, []string{"is required (comma-separated host:port)"}),
		Entry("only separators", " , ", false, nil, []string{`" , " lists no broker`}),
	)

	It("bounds a start-up step and says which one ran out of time", func(ctx SpecContext) {
		k := kafka.Config{StartupTimeout: 50 * time.Millisecond}
		err := k.Startup(ctx, "creating topics", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
		Expect(err).To(MatchError(ContainSubstring("creating topics took over 50ms")))
		Expect(k.Startup(ctx, "fine", func(context.Context) error { return nil })).To(Succeed())
	})

	It("calls the broker's fencing answers fenced, and nothing else", func() {
		Expect(kafka.Fenced(kerr.ProducerFenced)).To(BeTrue())
		Expect(kafka.Fenced(kerr.InvalidProducerEpoch)).To(BeTrue())
		Expect(kafka.Fenced(kafka.ErrFenced)).To(BeTrue())
		Expect(kafka.Fenced(errors.New("broker down"))).To(BeFalse())
	})

	It("sleeps until the context ends", func(ctx SpecContext) {
		short, cancel := context.WithCancel(ctx)
		cancel()
		start := time.Now()
		Expect(kafka.Sleep(short, time.Hour)).To(BeFalse())
		Expect(time.Since(start)).To(BeNumerically("<", time.Second))
		Expect(kafka.Sleep(ctx, time.Millisecond)).To(BeTrue())
	})
})
