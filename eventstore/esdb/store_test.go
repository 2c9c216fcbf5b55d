package esdb_test

import (
	"context"
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/esdb"
	"github.com/paystream/paystream/eventstore/esdbtest"
	"github.com/paystream/paystream/eventstore/storetest"
)

// startEmulator starts an emulator for the current spec and stops it when the spec ends.
func startEmulator() *esdbtest.Server {
	GinkgoHelper()
	srv, err := esdbtest.Start(esdbtest.Options{})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(srv.Stop)
	return srv
}

// open opens the adapter on url and closes it when the spec ends.
func open(ctx context.Context, url string, opts ...esdb.Option) *esdb.Store {
	GinkgoHelper()
	s, err := esdb.Open(ctx, url, append([]esdb.Option{esdb.WithLogger(logger())}, opts...)...)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(s.Close)
	return s
}

var _ = storetest.Describe("adapter over the emulator", func(ctx context.Context) (eventstore.Store, func()) {
	return open(ctx, startEmulator().URL()), nil
})

var _ = storetest.Describe("adapter over the emulator, found by gossip", func(ctx context.Context) (eventstore.Store, func()) {
	return open(ctx, startEmulator().DiscoverURL()), nil
})

// The suite against every server version the emulator models, defects included: the
// adapter must behave the same on all of them.
var _ = func() bool {
	for _, v := range []string{"23.10.0", "24.2.0", "24.10.4", "24.10.5", "25.0.0", "25.0.1"} {
		storetest.Describe("adapter over the emulator claiming "+v, func(ctx context.Context) (eventstore.Store, func()) {
			srv, err := esdbtest.Start(esdbtest.Options{ServerVersion: v})
			Expect(err).NotTo(HaveOccurred())
			DeferCleanup(srv.Stop)
			return open(ctx, srv.URL()), nil
		})
	}
	return true
}()

var _ = storetest.Describe("adapter over a three-node emulated cluster (gossip seeds)", func(ctx context.Context) (eventstore.Store, func()) {
	cluster, err := esdbtest.StartCluster(3, esdbtest.Options{}, 50*time.Millisecond)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(cluster.Stop)
	return open(ctx, cluster.URL()), nil
})

// A real server runs the same suite whenever EVENTSTORE_URL points at one, e.g.
// EVENTSTORE_URL='esdb://127.0.0.1:2113?tls=false' go test ./eventstore/esdb/
// The suite names its streams after a random run id, so a shared server is fine.
var _ = func() bool {
	url := os.Getenv("EVENTSTORE_URL")
	if url == "" {
		return false
	}
	return storetest.Describe("adapter against a real EventStoreDB (EVENTSTORE_URL)", func(ctx context.Context) (eventstore.Store, func()) {
		return open(ctx, url), nil
	})
}()
