package esdb_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/eventstore/esdb"
	"github.com/paystream/paystream/eventstore/esdbtest"
)

// A three-node cluster whose leader dies mid-run, with writers and followers running:
// nothing acknowledged is lost, nothing is written or delivered twice, no follower stalls.
var _ = Describe("Store over a cluster whose leader is killed mid-run", func() {
	It("loses nothing, applies nothing twice and stalls no follower", func(ctx SpecContext) {
		cluster, err := esdbtest.StartCluster(3, esdbtest.Options{}, 200*time.Millisecond)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(cluster.Stop)
		prefix := "payment-" + uuid.NewString()[:8] + "-"
		store := open(ctx, cluster.URL(), esdb.WithResubscribeBackoff(10*time.Millisecond, 200*time.Millisecond))
		followers := []*collector{followInBackground(store, 0, prefix), followInBackground(store, 0, prefix)}

		const writers, appendsEach = 4, 30
		var (
			mu      sync.Mutex
			written []uuid.UUID
			kill    = make(chan struct{})
			wg      sync.WaitGroup
		)
		for w := range writers {
			wg.Go(func() {
				defer GinkgoRecover()
				stream := fmt.Sprintf("%s%d", prefix, w)
				for i := range appendsEach {
					if w == 0 && i == appendsEach/3 {
						close(kill)
					}
					// Deterministic id per (stream, revision): what the commands layer does.
					e := newEvent()
					e.ID = uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%s/%d", stream, i))
					writeResolving(ctx, store, stream, eventstore.Revision(i)-1, e)
					mu.Lock()
					written = append(written, e.ID)
					mu.Unlock()
				}
			})
		}
		<-kill
		old := cluster.KillLeader()
		wg.Wait()
		Expect(cluster.Leader()).NotTo(BeIdenticalTo(old))

		for w := range writers {
			got, err := store.ReadStream(ctx, fmt.Sprintf("%s%d", prefix, w))
			Expect(err).NotTo(HaveOccurred())
			Expect(got).To(HaveLen(appendsEach), "every acknowledged append once, nothing more")
		}
		marker := newEvent()
		appendEventually(ctx, store, prefix+"fence", eventstore.NoStream, marker)
		want := append(sortedIDs(written), marker.ID.String())
		slices.Sort(want)
		for i, f := range followers {
			Eventually(ctx, func() []string { return sortedIDs(f.ids()) }).Should(Equal(want), "follower %d", i)
			Expect(slices.IsSorted(f.positions())).To(BeTrue())
			Expect(slices.Compact(f.positions())).To(HaveLen(len(want)), "follower %d delivered something twice", i)
		}
	})
})

// writeResolving appends e after rev until the outcome is known, as the commands layer
// resolves eventstore.ErrOutcomeUnknown: re-read the stream, and retry the same ids only
// if the event is not there.
func writeResolving(ctx context.Context, s *esdb.Store, stream string, rev eventstore.Revision, e eventstore.Event) {
	GinkgoHelper()
	Eventually(ctx, func() error {
		_, err := s.Append(ctx, stream, rev, []eventstore.Event{e})
		if err == nil {
			return nil
		}
		if errors.Is(err, eventstore.ErrConcurrency) {
			StopTrying("a concurrency conflict on a stream only this writer writes").Wrap(err).Now()
		}
		got, rerr := s.ReadStream(ctx, stream)
		if rerr == nil && int(rev)+1 < len(got) && got[rev+1].ID == e.ID {
			return nil
		}
		return err
	}).WithTimeout(30 * time.Second).WithPolling(20 * time.Millisecond).Should(Succeed())
}

func sortedIDs(ids []uuid.UUID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	slices.Sort(out)
	return out
}
