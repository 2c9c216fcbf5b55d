package main

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestPaymentload(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "paymentload")
}
