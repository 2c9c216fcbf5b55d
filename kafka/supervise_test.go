package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/kafka"
)

var _ = Describe("Supervise", func() {
	log := slog.New(slog.DiscardHandler)

	It("runs a role again after it failed (the broker came back), until the context ends", func(ctx SpecContext) {
		runs, stops := 0, 0
		runCtx, cancel := context.WithCancel(ctx)
		err := kafka.Supervise(runCtx, log, func(error) { stops++ }, func(context.Context) error {
			runs++
			if runs < 3 {
				return errors.New("broker closed the connection")
			}
			cancel() // the third run works until paymentd stops
			return nil
		})
		Expect(err).NotTo(HaveOccurred())
		Expect(runs).To(Equal(3))
		Expect(stops).To(Equal(2))
	})

	It("leaves a fenced role stopped and says so", func(ctx SpecContext) {
		runs := 0
		err := kafka.Supervise(ctx, log, nil, func(context.Context) error {
			runs++
			return fmt.Errorf("commit: %w", kafka.ErrFenced)
		})
		Expect(err).To(MatchError(kafka.ErrFenced))
		Expect(runs).To(Equal(1))
	})

	It("stops waiting to restart when the context ends", func(ctx SpecContext) {
		runCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		Expect(kafka.Supervise(runCtx, log, nil, func(context.Context) error { return errors.New("down") })).To(Succeed())
		Expect(time.Since(start)).To(BeNumerically("<", 5*time.Second))
	})
})
