package esdb_test

import (
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

func TestESDB(t *testing.T) {
	RegisterFailHandler(Fail)
	// Eventually(ctx, …) would otherwise wait for ever on a failure.
	EnforceDefaultTimeoutsWhenUsingContexts()
	SetDefaultEventuallyTimeout(10 * time.Second)
	RunSpecs(t, "EventStoreDB Adapter Suite")
}
