package embedded

import (
	"bytes"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/paystream/paystream/eventstore"
)

// FuzzReplay replays arbitrary bytes as an event log, as Open does with whatever a crash, a
// bad disk or a stray write left in events.log. Seeds are well-formed logs; the committed
// corpus in testdata/fuzz/FuzzReplay adds hostile length fields (2^31, 2^32-1, 2^63 …).
// Properties: replay never panics; it allocates in proportion to the file, never to a
// length field; it fails only with ErrCorrupt or an unsupported version; what it loads is
// a consistent index; and replaying the log cut where replay said it ends loads the same
// events with nothing left to cut (a repaired log opens clean).
//
//	go test -run '^$' -fuzz '^FuzzReplay$' -fuzztime 3m ./eventstore/embedded/
func FuzzReplay(f *testing.F) {
	f.Add([]byte{})
	f.Add(header())
	for _, l := range seedLogs() {
		f.Add(l.log)
		f.Add(l.log[:len(l.log)-3]) // torn
	}
	f.Fuzz(func(t *testing.T, log []byte) {
		s := newStore()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		end, err := s.replay(bytes.NewReader(log), int64(len(log)))
		runtime.ReadMemStats(&after)
		// The window reads at least windowLen at a time (less at the end of the file); the
		// index costs a chunk of stream ids and frame offsets and a few bytes per event.
		if alloc, limit := after.TotalAlloc-before.TotalAlloc, uint64(2*windowLen+16*len(log)); alloc > limit {
			t.Fatalf("replaying %d bytes allocated %d bytes, more than %d", len(log), alloc, limit)
		}
		if err != nil {
			if !errors.Is(err, eventstore.ErrCorrupt) && !strings.Contains(err.Error(), "unsupported log format version") {
				t.Fatalf("replay failed with neither ErrCorrupt nor a version error: %v", err)
			}
			return
		}
		if end < headerLen || end > int64(len(log)) {
			t.Fatalf("replay ends at %d in a log of %d bytes", end, len(log))
		}
		loaded := checkIndex(t, s, log)

		again := newStore()
		end2, err := again.replay(bytes.NewReader(log[:end]), end)
		if err != nil || end2 != end {
			t.Fatalf("the log cut at %d replays to %d, %v", end, end2, err)
		}
		if got := checkIndex(t, again, log[:end]); !sameEvents(got, loaded) {
			t.Fatalf("the log cut at %d loads other events", end)
		}
	})
}

// FuzzRecords writes appends as Open's writer does, batches included, and reads them back.
// The fuzzer picks the streams, types, payloads, how the appends fall into batches and
// where the log is then torn or damaged. Properties: the intact log reads back exactly what
// was written; a log torn anywhere reads back the whole frames before the tear and is cut
// there; one damaged byte is always detected: replay cuts the log at the damaged frame when
// only frames of its own batch follow (a torn last batch), and fails with ErrCorrupt when a
// later batch follows (acknowledged data is damaged) — it never loads a damaged frame.
//
//	go test -run '^$' -fuzz '^FuzzRecords$' -fuzztime 3m ./eventstore/embedded/
func FuzzRecords(f *testing.F) {
	f.Add("payment-1", "payment.checkout-created.v1", []byte(`{"orderId":"ord_1"}`), []byte(`{"requestKey":"k"}`), uint8(5), uint8(3), uint8(0b10110), uint32(100), uint8(0xff))
	f.Add("", "", []byte{}, []byte{}, uint8(0), uint8(0), uint8(0), uint32(0), uint8(0))
	f.Add("s", "t", bytes.Repeat([]byte{0xd1, 'E', 'V', 'T'}, 40), []byte(nil), uint8(7), uint8(9), uint8(0xff), uint32(1<<31), uint8(1))
	f.Fuzz(func(t *testing.T, stream, typ string, data, meta []byte, appends, perAppend, batching uint8, damage uint32, mask uint8) {
		w := writeLog(stream, typ, data, meta, int(appends%8)+1, int(perAppend), batching)

		s := newStore()
		end, err := s.replay(bytes.NewReader(w.log), int64(len(w.log)))
		if err != nil || end != int64(len(w.log)) {
			t.Fatalf("the intact log replays to %d of %d: %v", end, len(w.log), err)
		}
		if got := checkIndex(t, s, w.log); !sameEvents(got, w.events) {
			t.Fatalf("the intact log reads back other events than were written")
		}

		// Torn: the file ends anywhere after the header.
		cut := headerLen + int64(damage)%(int64(len(w.log))-headerLen)
		s = newStore()
		end, err = s.replay(bytes.NewReader(w.log[:cut]), cut)
		wantEnd := w.frames[w.frameAt(cut)].start // the frame cut short is lost
		if err != nil || end != wantEnd {
			t.Fatalf("the log torn at %d replays to %d, want %d: %v", cut, end, wantEnd, err)
		}
		if got := checkIndex(t, s, w.log[:cut]); !sameEvents(got, w.events[:w.eventsBefore(end)]) {
			t.Fatalf("the log torn at %d reads back other events than the whole frames before the tear", cut)
		}

		// Damaged: one byte after the header changes.
		at := headerLen + int64(damage)%(int64(len(w.log))-headerLen)
		damaged := bytes.Clone(w.log)
		damaged[at] ^= max(mask, 1)
		k := w.frameAt(at)
		s = newStore()
		end, err = s.replay(bytes.NewReader(damaged), int64(len(damaged)))
		if w.laterBatchAfter(k) {
			if !errors.Is(err, eventstore.ErrCorrupt) {
				t.Fatalf("damage at %d in frame %d, before a later batch: replay gives %d, %v; want ErrCorrupt", at, k, end, err)
			}
			return
		}
		if err != nil || end != w.frames[k].start {
			t.Fatalf("damage at %d in frame %d of the last batch: replay gives %d, %v; want %d", at, k, end, err, w.frames[k].start)
		}
		if got := checkIndex(t, s, damaged); !sameEvents(got, w.events[:w.eventsBefore(end)]) {
			t.Fatalf("damage at %d: replay reads back other events than the frames before it", at)
		}
	})
}

// writtenLog is a log as the writer lays it out, with what each frame holds.
type writtenLog struct {
	log    []byte
	frames []writtenFrame
	events []eventstore.RecordedEvent
}

type writtenFrame struct {
	start, batch int64
	events       int // events in this and the frames before it
}

// writeLog writes n appends of 1 to 4 events each to streams named after stream, in
// batches: append i starts a new batch when bit i of batching is set.
func writeLog(stream, typ string, data, meta []byte, n, perAppend int, batching uint8) writtenLog {
	if stream == "" {
		stream = "s"
	}
	if typ == "" {
		typ = "t"
	}
	w := writtenLog{log: header()}
	revisions := map[string]eventstore.Revision{}
	batch := int64(headerLen)
	for i := range n {
		if i > 0 && batching&(1<<i) != 0 {
			batch = int64(len(w.log))
		}
		name := stream + strings.Repeat("'", i%3)
		at := time.Unix(1_790_000_000+int64(i), int64(i)*1_001).UTC()
		var events []eventstore.RecordedEvent
		for j := range (perAppend+i)%4 + 1 {
			e := eventstore.RecordedEvent{
				Stream: name, Revision: revisions[name], Position: eventstore.Position(len(w.events) + 1),
				Type: typ, Data: data[:(i+j)%(len(data)+1)], Metadata: meta[:len(meta)*j/4], RecordedAt: at,
			}
			e.ID[0], e.ID[1], e.ID[15] = byte(i), byte(j), 0x5a
			revisions[name]++
			events = append(events, e)
			w.events = append(w.events, e)
		}
		w.frames = append(w.frames, writtenFrame{start: int64(len(w.log)), batch: batch, events: len(w.events)})
		w.log = appendRecord(w.log, batch, events)
	}
	return w
}

// frameAt returns the index of the frame holding offset o.
func (w writtenLog) frameAt(o int64) int {
	k := 0
	for k+1 < len(w.frames) && w.frames[k+1].start <= o {
		k++
	}
	return k
}

// eventsBefore returns how many events the whole frames before offset end hold.
func (w writtenLog) eventsBefore(end int64) int {
	n := 0
	for _, fr := range w.frames {
		if fr.start < end {
			n = fr.events
		}
	}
	return n
}

func (w writtenLog) laterBatchAfter(k int) bool {
	for _, fr := range w.frames[k+1:] {
		if fr.batch != w.frames[k].batch {
			return true
		}
	}
	return false
}

// checkIndex checks that s, replayed from log, holds positions 1, 2, 3, … and that every
// stream's positions are its events' in revision order, and returns the events, read from
// log as the store reads those it does not cache.
func checkIndex(t *testing.T, s *Store, log []byte) []eventstore.RecordedEvent {
	t.Helper()
	s.file = bytes.NewReader(log)
	var events []eventstore.RecordedEvent
	counted := 0
	for p := eventstore.Position(1); p <= s.last(); p++ {
		got, err := s.resolve([]ref{s.ref(p)}, nil)
		if err != nil {
			t.Fatalf("reading position %d: %v", p, err)
		}
		e := got[0]
		if e.Position != p {
			t.Fatalf("position %d holds an event at position %d", p, e.Position)
		}
		st := s.streams[e.Stream]
		if st == nil || int(e.Revision) >= len(st.positions) || st.positions[e.Revision] != p {
			t.Fatalf("event at position %d is not %s@%d in the stream index", p, e.Stream, e.Revision)
		}
		events = append(events, e)
	}
	for _, st := range s.streams {
		counted += len(st.positions)
	}
	if counted != len(events) {
		t.Fatalf("streams index %d events, the log holds %d", counted, len(events))
	}
	return events
}

func sameEvents(a, b []eventstore.RecordedEvent) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Stream != y.Stream || x.Revision != y.Revision || x.Position != y.Position || x.ID != y.ID ||
			x.Type != y.Type || !bytes.Equal(x.Data, y.Data) || !bytes.Equal(x.Metadata, y.Metadata) ||
			!x.RecordedAt.Equal(y.RecordedAt) || x.RecordedAt.Location() != time.UTC {
			return false
		}
	}
	return true
}

// seedLogs are well-formed logs: one append, and several appends over streams in batches.
func seedLogs() []writtenLog {
	return []writtenLog{
		writeLog("payment-1", "payment.checkout-created.v1", []byte(`{"orderId":"ord_1"}`), nil, 1, 0, 0),
		writeLog("payment-2", "payment.psp-approved.v1", []byte(`{"paymentKey":"tgen_1","totalAmount":"48500"}`), []byte(`{"requestKey":"k"}`), 6, 2, 0b101010),
	}
}
