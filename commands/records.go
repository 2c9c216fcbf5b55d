package commands

import (
	"context"
	"fmt"
	"strings"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/audit"
	"github.com/paystream/paystream/eventstore"
)

// Record is an event of a stream the payment decider does not own (a reconciliation run's,
// say): its frozen stored name and its JSON, encoded by the package that owns it.
type Record struct {
	Name string
	Data []byte
}

// AppendRecords appends records to stream after expected, built like every event paystream
// writes: metadata with meta's correlation id and actor, chained to the stream's head by
// audit.Seal, and ids derived from stream, revision, name and key — so that appending the
// same records under the same key again (a retry after eventstore.ErrOutcomeUnknown, or a
// run repeated) is recognised by the store instead of duplicated. key names the writer's
// invocation (e.g. a reconciliation run id). Payment streams are refused: they change
// only through the decider. Errors: eventstore.ErrConcurrency (wrapped) when the stream is
// not at expected, or the store's.
func (s *Service) AppendRecords(ctx context.Context, stream string, expected eventstore.Revision, records []Record,
	key string, meta Meta) (eventstore.AppendResult, error) {
	if strings.HasPrefix(stream, aggregate.StreamPrefix) {
		return eventstore.AppendResult{}, fmt.Errorf("append records to %s: a payment stream", stream)
	}
	prev := ""
	if expected != eventstore.NoStream {
		recorded, err := s.cfg.Store.ReadStream(ctx, stream)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("read %s: %w", stream, err)
		}
		if n := len(recorded); n > 0 {
			prev = audit.LinksOf(recorded[n-1].Metadata).Hash
		}
	}
	meta.commandID = key
	metas := make([]Meta, len(records))
	for i := range metas {
		metas[i] = meta
	}
	res, _, err := s.appendRecords(ctx, stream, expected, prev, records, metas)
	return res, err
}

// appendRecords is AppendRecords for a writer that knows prev, the hash of the stream's
// event at expected ("" for none), so nothing is read (the webhook inbox: its day's stream
// grows with every webhook), and whose records may have metadata of their own: metas[i]
// is record i's, its commandID the key record i's id derives from. It returns the hash of
// the last record appended.
func (s *Service) appendRecords(ctx context.Context, stream string, expected eventstore.Revision, prev string, records []Record,
	metas []Meta) (eventstore.AppendResult, string, error) {
	out := make([]eventstore.Event, len(records))
	for i, r := range records {
		var err error
		if out[i], prev, err = storedEvent(stream, expected+eventstore.Revision(i)+1, prev, r.Name, r.Data, metas[i], ""); err != nil {
			return eventstore.AppendResult{}, "", err
		}
	}
	res, err := s.appendStored(ctx, stream, expected, out)
	return res, prev, err
}
