package main

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestTosssimCommand(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "tosssim command suite")
}
