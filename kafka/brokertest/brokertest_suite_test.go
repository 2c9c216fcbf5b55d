package brokertest_test

import (
	"context"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/kafka/brokertest"
)

func TestBrokertest(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Brokertest Suite")
}

var _ = AfterSuite(func() { Expect(brokertest.StopShared()).To(Succeed()) })

var _ = BeforeSuite(func(ctx context.Context) {
	_, err := brokertest.Owned(ctx)
	Expect(err).NotTo(HaveOccurred())
})
