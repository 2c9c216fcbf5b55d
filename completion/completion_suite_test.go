package completion_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/kafka/brokertest"
	"github.com/paystream/paystream/kafkamsg/kafkatest"
)

func TestCompletion(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Completion Suite")
}

// One table: every Kafka spec runs on kfake and on a real Apache Kafka broker.
var _ = func() bool {
	for _, b := range kafkatest.Backends() {
		Describe("Completion on "+b.Name, func() { completionSpecs(b) })
	}
	return true
}()

var _ = AfterSuite(func() { Expect(brokertest.StopShared()).To(Succeed()) })
