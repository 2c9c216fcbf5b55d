package kafkamsg_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestKafkamsg(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Kafkamsg Suite")
}
