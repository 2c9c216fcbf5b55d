package main

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestPaymentchaosCommand(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "paymentchaos command suite")
}
