package pebble_test

import (
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestPebble(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Pebble ledger Suite")
}
