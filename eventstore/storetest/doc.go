// Package storetest is the conformance suite for eventstore.Store adapters: one set of
// Ginkgo specs that every adapter (the embedded store in both modes, the EventStoreDB
// adapter over its emulator and against a real server) runs unchanged.
//
// Register it from an adapter's Ginkgo suite with a factory that opens a fresh store:
//
//	var _ = storetest.Describe("memory store", func(ctx context.Context) (eventstore.Store, func()) {
//		s := embedded.OpenMemory()
//		return s, func() { Expect(s.Close()).To(Succeed()) }
//	})
//
// Invariants of the suite itself, so that it also runs against a shared, non-empty server:
//   - Every spec names its streams after a random run id (kind-<run>-<n>, e.g.
//     payment-3f2a9c01b7de-4) and never touches other streams.
//   - Follow specs filter by the run's prefix (or, for the empty prefix, drop foreign
//     streams in the handler) and start after a position the run itself produced, so
//     pre-existing events from other streams never disturb them.
//   - Exactness ("nothing else was delivered") is checked with a fence: the spec appends a
//     marker event and waits for it; everything committed before the marker must have been
//     delivered by then, in position order. No spec sleeps.
package storetest
