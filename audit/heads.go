package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"

	"github.com/cockroachdb/pebble"

	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/localkv"
)

// headBook is where an Anchorer keeps the heads it follows and those anchors listed. Its
// methods are called with the Anchorer's mutex held.
type headBook interface {
	// follow records a stream's head as followed.
	follow(stream string, h Head)
	// changed lists, by stream, the heads followed since the latest anchor recorded.
	changed() []StreamHead
	// digest starts a Digest over every head at the position followed; changed is changed().
	digest(changed []StreamHead) (*digester, error)
	// recorded says an anchor listing changed() was recorded.
	recorded()
	// anchor records heads as listed by an anchor; clearAnchored forgets every one.
	anchor(heads []StreamHead) error
	clearAnchored() error
	// anchored is stream's head in the latest anchor listing it.
	anchored(stream string) (Head, bool, error)
	// resumes says that the anchors give every head up to the latest one's position, so
	// that following can start there.
	resumes() bool
	close() error
}

// memoryHeads keeps every stream's head as followed from the start of the store, and as
// anchored: two per stream.
type memoryHeads struct {
	heads, anchoredHeads map[string]Head
	changedSince         map[string]bool
}

func newMemoryHeads() *memoryHeads {
	return &memoryHeads{heads: map[string]Head{}, anchoredHeads: map[string]Head{}, changedSince: map[string]bool{}}
}

func (m *memoryHeads) follow(stream string, h Head) {
	m.heads[stream], m.changedSince[stream] = h, true
}

func (m *memoryHeads) changed() []StreamHead {
	out := make([]StreamHead, 0, len(m.changedSince))
	for s := range m.changedSince {
		out = append(out, StreamHead{Stream: s, Revision: m.heads[s].Revision, Hash: m.heads[s].Hash})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Stream < out[j].Stream })
	return out
}

func (m *memoryHeads) digest([]StreamHead) (*digester, error) {
	names := make([]string, 0, len(m.heads))
	for s := range m.heads {
		names = append(names, s)
	}
	sort.Strings(names)
	d := newDigester()
	for _, s := range names {
		d.add(s, m.heads[s])
	}
	return d, nil
}

func (m *memoryHeads) resumes() bool { return false }

func (m *memoryHeads) close() error { return nil }

func (m *memoryHeads) recorded() { m.changedSince = map[string]bool{} }

func (m *memoryHeads) anchor(heads []StreamHead) error {
	for _, h := range heads {
		m.anchoredHeads[h.Stream] = Head{Revision: h.Revision, Hash: h.Hash}
	}
	return nil
}

func (m *memoryHeads) clearAnchored() error { m.anchoredHeads = map[string]Head{}; return nil }

func (m *memoryHeads) anchored(stream string) (Head, bool, error) {
	h, ok := m.anchoredHeads[stream]
	return h, ok, nil
}

// diskHeads keeps the anchored heads in a Pebble database and in memory only those followed
// since the latest anchor: every head at the position followed is the anchored one, unless
// it changed since (see WithHeadsIn).
//
// Keys: 'h' and the stream; values: the revision (8 bytes big-endian) and the hash.
type diskHeads struct {
	db           *pebble.DB
	changedSince map[string]Head
}

const prefixHead = 'h'

func headKey(stream string) []byte { return append([]byte{prefixHead}, stream...) }

func (d *diskHeads) follow(stream string, h Head) { d.changedSince[stream] = h }

func (d *diskHeads) changed() []StreamHead {
	out := make([]StreamHead, 0, len(d.changedSince))
	for s, h := range d.changedSince {
		out = append(out, StreamHead{Stream: s, Revision: h.Revision, Hash: h.Hash})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Stream < out[j].Stream })
	return out
}

// digest merges the anchored heads, read in key order (bytewise, as sort.Strings orders),
// with the changed ones, which replace theirs.
func (d *diskHeads) digest(changed []StreamHead) (*digester, error) {
	dg := newDigester()
	next := 0
	err := localkv.Scan(d.db, prefixHead, func(k, v []byte) error {
		stream := string(k)
		for ; next < len(changed) && changed[next].Stream < stream; next++ {
			dg.add(changed[next].Stream, Head{Revision: changed[next].Revision, Hash: changed[next].Hash})
		}
		if next < len(changed) && changed[next].Stream == stream {
			return nil // added with the changed ones, next
		}
		h, err := decodeHead(v)
		if err != nil {
			return fmt.Errorf("head of %s: %w", stream, err)
		}
		dg.add(stream, h)
		return nil
	})
	if err != nil {
		return nil, err
	}
	for ; next < len(changed); next++ {
		dg.add(changed[next].Stream, Head{Revision: changed[next].Revision, Hash: changed[next].Hash})
	}
	return dg, nil
}

func (d *diskHeads) resumes() bool { return true }

func (d *diskHeads) close() error { return d.db.Close() }

func (d *diskHeads) recorded() { d.changedSince = map[string]Head{} }

func (d *diskHeads) anchor(heads []StreamHead) error {
	b := d.db.NewBatch()
	defer b.Close()
	for _, h := range heads {
		v := binary.BigEndian.AppendUint64(nil, uint64(h.Revision))
		if err := b.Set(headKey(h.Stream), append(v, h.Hash...), nil); err != nil {
			return err
		}
	}
	return b.Commit(pebble.NoSync)
}

func (d *diskHeads) clearAnchored() error {
	return d.db.DeleteRange([]byte{prefixHead}, []byte{prefixHead + 1}, pebble.NoSync)
}

func (d *diskHeads) anchored(stream string) (Head, bool, error) {
	v, closer, err := d.db.Get(headKey(stream))
	if errors.Is(err, pebble.ErrNotFound) {
		return Head{}, false, nil
	}
	if err != nil {
		return Head{}, false, err
	}
	defer closer.Close()
	h, err := decodeHead(v)
	return h, err == nil, err
}

func decodeHead(v []byte) (Head, error) {
	if len(v) < 8 {
		return Head{}, errors.New("malformed head")
	}
	return Head{Revision: eventstore.Revision(binary.BigEndian.Uint64(v)), Hash: string(v[8:])}, nil
}
