package esdbtest

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
)

// tombstoneRevision is the revision EventStoreDB gives a stream's tombstone event.
const tombstoneRevision = uint64(1<<63 - 1)

// record is one recorded event. Records never change once written, so readers may hold
// them without the lock.
type record struct {
	stream      string
	revision    uint64
	id          uuid.UUID
	typ         string
	contentType string
	custom      []byte
	data        []byte
	created     int64  // 100-ns ticks since the Unix epoch
	pos         uint64 // commit == prepare
}

type streamState struct {
	records        []*record // revision order, tombstone excluded
	truncateBefore uint64    // soft delete: revisions below are hidden from stream reads
	deleted        bool      // soft-deleted and nothing appended since
	tombstoned     bool
}

func (st *streamState) last() int64 { return int64(len(st.records)) - 1 }

// visible is what a stream read sees.
func (st *streamState) visible() []*record {
	i, _ := slices.BinarySearchFunc(st.records, st.truncateBefore, func(r *record, rev uint64) int {
		switch {
		case r.revision < rev:
			return -1
		case r.revision > rev:
			return 1
		}
		return 0
	})
	return st.records[i:]
}

// db is the emulator's data: one global log ($all) and an index by stream. It survives
// Restart, and the nodes of a Cluster share it (what one node committed, all have).
//
// Writes are replicated in log order: log[:replicated] is what reads and subscriptions
// see. Without a replication delay a write is replicated at once.
type db struct {
	mu         sync.Mutex
	log        []*record // commit order; append-only, so a snapshot log[:n] stays valid
	replicated int       // records of the log that are replicated (visible)
	delay      time.Duration
	streams    map[string]*streamState
	next       uint64        // position of the next record
	changed    chan struct{} // closed and replaced whenever more becomes visible
}

func newDB() *db {
	// Real servers start user data after their own system records: start above zero.
	return &db{streams: map[string]*streamState{}, next: 4096, changed: make(chan struct{})}
}

// proposed is one event of an append, as the client sent it.
type proposed struct {
	id          uuid.UUID
	typ         string
	contentType string
	custom      []byte
	data        []byte
}

// expectation is an append's, delete's or tombstone's expected revision.
type expectation struct {
	kind     expectKind
	revision uint64
}

type expectKind int

const (
	expectAny expectKind = iota
	expectNoStream
	expectExists
	expectRevision
)

// appendOutcome is what an append did: success (possibly idempotent) or a wrong expected
// version with the stream's current revision (-1: no stream). notReady: the same ids were
// written but are not replicated yet (the server drops such a retry).
type appendOutcome struct {
	ok       bool
	notReady bool
	revision uint64
	pos      uint64
	current  int64
}

// errDeleted says the stream is tombstoned.
type errDeleted struct{ stream string }

func (e errDeleted) Error() string { return fmt.Sprintf("stream %q is deleted", e.stream) }

// write appends records to the log under db.mu and replicates them, at once or after
// the replication delay.
func (d *db) write(stream string, st *streamState, events []proposed, firstRevision uint64) *record {
	now := time.Now().UnixNano() / 100
	var last *record
	for i, e := range events {
		r := &record{stream: stream, revision: firstRevision + uint64(i), id: e.id, typ: e.typ,
			contentType: e.contentType, custom: e.custom, data: e.data, created: now, pos: d.next}
		d.next += uint64(64 + len(stream) + len(e.typ) + len(e.custom) + len(e.data))
		d.log = append(d.log, r)
		if r.revision != tombstoneRevision {
			st.records = append(st.records, r)
		}
		last = r
	}
	n := len(d.log)
	if d.delay == 0 {
		d.replicate(n)
	} else {
		time.AfterFunc(d.delay, func() {
			d.mu.Lock()
			defer d.mu.Unlock()
			d.replicate(n)
		})
	}
	return last
}

// replicate makes log[:n] visible and wakes readers. Callers hold d.mu.
func (d *db) replicate(n int) {
	if n <= d.replicated {
		return
	}
	d.replicated = n
	close(d.changed)
	d.changed = make(chan struct{})
}

func (d *db) setReplicationDelay(delay time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.delay = delay
}

// isReplicated reports whether record r is visible. Callers hold d.mu.
func (d *db) isReplicated(r *record) bool {
	return d.replicated > 0 && r.pos <= d.log[d.replicated-1].pos
}

// awaitReplicated waits until the record at log position pos is replicated; false if
// timeout or stop came first.
func (d *db) awaitReplicated(pos uint64, timeout time.Duration, stop <-chan struct{}) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		d.mu.Lock()
		done := d.replicated > 0 && d.log[d.replicated-1].pos >= pos
		changed := d.changed
		d.mu.Unlock()
		if done {
			return true
		}
		select {
		case <-changed:
		case <-deadline.C:
			return false
		case <-stop:
			return false
		}
	}
}

func (d *db) stream(name string) *streamState {
	st := d.streams[name]
	if st == nil {
		st = &streamState{}
		d.streams[name] = st
	}
	return st
}

// appendEvents appends events to stream if the expectation holds, or recognises a retry
// of events already written right after the expected revision.
func (d *db) appendEvents(stream string, exp expectation, events []proposed) (appendOutcome, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.stream(stream)
	if st.tombstoned {
		return appendOutcome{}, errDeleted{stream}
	}
	current := st.last()
	ok := false
	switch exp.kind {
	case expectAny:
		ok = true
	case expectNoStream:
		ok = current < 0 || st.deleted
	case expectExists:
		ok = current >= 0 && !st.deleted
	case expectRevision:
		ok = current == int64(exp.revision)
	}
	if ok && exp.kind != expectAny {
		last := d.write(stream, st, events, uint64(current+1))
		st.deleted = false
		return appendOutcome{ok: true, revision: last.revision, pos: last.pos}, nil
	}
	// Idempotence: the same ids already follow the expected revision.
	from := int64(-1)
	switch exp.kind {
	case expectRevision:
		from = int64(exp.revision) + 1
	case expectNoStream:
		from = 0
	case expectAny:
		if i := slices.IndexFunc(st.records, func(r *record) bool { return r.id == events[0].id }); i >= 0 {
			from = int64(i)
		}
	}
	if from >= 0 && from+int64(len(events)) <= int64(len(st.records)) {
		written := st.records[from : from+int64(len(events))]
		same := true
		for i, r := range written {
			if r.id != events[i].id {
				same = false
				break
			}
		}
		if same {
			last := written[len(written)-1]
			if !d.isReplicated(last) {
				return appendOutcome{notReady: true, current: current}, nil
			}
			return appendOutcome{ok: true, revision: last.revision, pos: last.pos}, nil
		}
	}
	if exp.kind == expectAny {
		last := d.write(stream, st, events, uint64(current+1))
		st.deleted = false
		return appendOutcome{ok: true, revision: last.revision, pos: last.pos}, nil
	}
	return appendOutcome{current: current}, nil
}

// remove soft-deletes (tombstone false) or tombstones a stream if exp holds. It returns
// the position of what it wrote, and the stream's current revision (-1: none) when the
// expectation failed (ok false).
func (d *db) remove(stream string, exp expectation, tombstone bool) (pos uint64, ok bool, current int64, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.stream(stream)
	if st.tombstoned {
		return 0, false, 0, errDeleted{stream}
	}
	current = st.last()
	switch exp.kind {
	case expectNoStream:
		ok = current < 0
	case expectExists:
		ok = current >= 0
	case expectRevision:
		ok = current == int64(exp.revision)
	default:
		ok = true
	}
	if !ok {
		return 0, false, current, nil
	}
	if tombstone {
		st.tombstoned = true
		last := d.write(stream, st, []proposed{{id: uuid.New(), typ: "$streamDeleted", contentType: "application/octet-stream"}}, tombstoneRevision)
		return last.pos, true, current, nil
	}
	st.truncateBefore = uint64(current + 1)
	st.deleted = true
	meta := d.stream("$$" + stream)
	data := fmt.Appendf(nil, `{"$tb":%d}`, current+1)
	last := d.write("$$"+stream, meta, []proposed{{id: uuid.New(), typ: "$metadata", contentType: "application/json", data: data}}, uint64(meta.last()+1))
	return last.pos, true, current, nil
}

// streamSnapshot returns what a stream read sees, whether the stream is tombstoned, and
// whether it has anything to read.
func (d *db) streamSnapshot(stream string) (visible []*record, tombstoned bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.streams[stream]
	if st == nil {
		return nil, false
	}
	vis := st.visible()
	for len(vis) > 0 && !d.isReplicated(vis[len(vis)-1]) {
		vis = vis[:len(vis)-1]
	}
	return vis, st.tombstoned
}

// allSnapshot returns the whole log as it is now and the channel closed on the next write.
func (d *db) allSnapshot() ([]*record, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log[:d.replicated:d.replicated], d.changed
}

// end is the position the next record will get: the end of the log.
func (d *db) end() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.next
}

// streamFrom returns the stream's records from revision rev on and the channel closed on
// the next write.
func (d *db) streamFrom(stream string, rev uint64) ([]*record, <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.streams[stream]
	if st == nil || rev >= uint64(len(st.records)) {
		return nil, d.changed
	}
	out := slices.Clone(st.records[rev:])
	for len(out) > 0 && !d.isReplicated(out[len(out)-1]) {
		out = out[:len(out)-1]
	}
	return out, d.changed
}

// streamLength is the number of records of the stream (the next revision).
func (d *db) streamLength(stream string) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if st := d.streams[stream]; st != nil {
		return uint64(len(st.records))
	}
	return 0
}
