package tosssim_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestTosssim(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Toss simulator suite")
}
