package forwarder_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/kafka/brokertest"
	"github.com/paystream/paystream/kafkamsg/kafkatest"
)

func TestForwarder(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Forwarder Suite")
}

// One table: every spec of the forwarder runs on kfake and on a real Apache Kafka broker.
var _ = func() bool {
	for _, b := range kafkatest.Backends() {
		Describe("Forwarder on "+b.Name, func() {
			forwarderSpecs(b)
			crashSpecs(b)
		})
	}
	return true
}()

var _ = AfterSuite(func() { Expect(brokertest.StopShared()).To(Succeed()) })
