package localkv_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestLocalKV(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "localkv Suite")
}
