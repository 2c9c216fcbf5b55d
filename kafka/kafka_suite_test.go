package kafka_test

import (
	"context"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/kafkamsg/kafkatest"
)

func TestKafka(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Kafka Suite")
}

// committedValues reads topic on brokers read_committed and returns its records' values.
func committedValues(ctx context.Context, brokers []string, topic string) []string {
	recs, err := kafkatest.ReadCommitted(ctx, brokers, topic)
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Value))
	}
	return out
}
