package audit_test

import (
	"context"
	"crypto/ed25519"
	"fmt"

	"github.com/go-json-experiment/json/v1"

	"github.com/google/uuid"

	"github.com/paystream/paystream/audit"
	"github.com/paystream/paystream/eventstore"
)

// key signs the anchors of the specs and benchmarks.
var key = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))

// appendChained appends n chained events to the payment stream of order after revision
// from (eventstore.NoStream for a new one), as commands writes them, and returns where the
// append left it.
func appendChained(ctx context.Context, store eventstore.Store, order string, from eventstore.Revision, n int) (eventstore.AppendResult, error) {
	stream := "payment-" + order
	prev := ""
	if from != eventstore.NoStream {
		es, err := store.ReadStream(ctx, stream)
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		prev = audit.LinksOf(es[len(es)-1].Metadata).Hash
	}
	events := make([]eventstore.Event, n)
	for i := range events {
		rev := from + 1 + eventstore.Revision(i)
		data := fmt.Appendf(nil, `{"n":%d}`, rev)
		md := map[string]any{"correlationId": "req_" + order, "actor": "shop", "schemaVersion": 1}
		if prev != "" {
			md["prevHash"] = prev
		}
		unsealed, _ := json.Marshal(md)
		h, err := audit.Seal(stream, rev, "payment.x.v1", data, unsealed)
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		md["hash"], prev = h, h
		meta, _ := json.Marshal(md)
		events[i] = eventstore.Event{ID: uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%s/%d", stream, rev)), Type: "payment.x.v1",
			Data: data, Metadata: meta}
	}
	return store.Append(ctx, stream, from, events)
}

// heads is every payment stream's head in store, read stream by stream: what an anchor's
// digest covers.
func heads(ctx context.Context, store eventstore.Store, orders []string) (map[string]audit.Head, error) {
	out := map[string]audit.Head{}
	for _, o := range orders {
		es, err := store.ReadStream(ctx, "payment-"+o)
		if err != nil {
			return nil, err
		}
		last := es[len(es)-1]
		out[last.Stream] = audit.Head{Revision: last.Revision, Hash: audit.LinksOf(last.Metadata).Hash}
	}
	return out, nil
}
