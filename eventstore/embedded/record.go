package embedded

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/paystream/paystream/eventstore"
)

// The log format; doc.go describes it.
const (
	formatVersion  = 1
	headerLen      = 16
	frameHeaderLen = 12 // magic, body length, checksum
	fixedFields    = 32 // batch, position, revision, recorded at
	// recordOverhead and eventOverhead bound a record's encoded size beyond its strings,
	// so validate can refuse what would not fit in a frame.
	recordOverhead = fixedFields + 2*binary.MaxVarintLen64
	eventOverhead  = 16 + 3*binary.MaxVarintLen64
)

var (
	headerMagic = [8]byte{'P', 'S', 'E', 'V', 'L', 'O', 'G', 0}
	frameMagic  = [4]byte{'E', 'V', 'T', 0xd1}
	castagnoli  = crc32.MakeTable(crc32.Castagnoli)
	le          = binary.LittleEndian
)

func header() []byte {
	h := make([]byte, headerLen)
	copy(h, headerMagic[:])
	le.PutUint32(h[8:], formatVersion)
	le.PutUint32(h[12:], crc32.Checksum(h[:12], castagnoli))
	return h
}

func checkHeader(h []byte) error {
	switch {
	case [8]byte(h[:8]) != headerMagic:
		return fmt.Errorf("%w: not an event log (bad magic)", eventstore.ErrCorrupt)
	case le.Uint32(h[12:16]) != crc32.Checksum(h[:12], castagnoli):
		return fmt.Errorf("%w: header checksum mismatch", eventstore.ErrCorrupt)
	case le.Uint32(h[8:12]) != formatVersion:
		return fmt.Errorf("unsupported log format version %d (this build reads %d)", le.Uint32(h[8:12]), formatVersion)
	}
	return nil
}

// appendRecord encodes one append's events as a frame whose batch field is the log offset
// where the write that carries it starts.
func appendRecord(buf []byte, batch int64, events []eventstore.RecordedEvent) []byte {
	start := len(buf)
	buf = append(buf, frameMagic[:]...)
	buf = append(buf, 0, 0, 0, 0, 0, 0, 0, 0) // length and checksum, filled in below
	body := len(buf)
	first := events[0]
	buf = le.AppendUint64(buf, uint64(batch))
	buf = le.AppendUint64(buf, uint64(first.Position))
	buf = le.AppendUint64(buf, uint64(first.Revision))
	buf = le.AppendUint64(buf, uint64(first.RecordedAt.UnixNano()))
	buf = appendField(buf, first.Stream)
	buf = binary.AppendUvarint(buf, uint64(len(events)))
	for _, e := range events {
		buf = append(buf, e.ID[:]...)
		buf = appendField(buf, e.Type)
		buf = appendField(buf, e.Data)
		buf = appendField(buf, e.Metadata)
	}
	le.PutUint32(buf[start+4:], uint32(len(buf)-body))
	le.PutUint32(buf[start+8:], crc32.Update(crc32.Checksum(buf[start+4:start+8], castagnoli), castagnoli, buf[body:]))
	return buf
}

func appendField[T string | []byte](buf []byte, v T) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(v)))
	return append(buf, v...)
}

// load replays the log in f into s and returns the offset where appends continue. It
// writes the header of a new log and truncates a torn tail.
func (s *Store) load(f *os.File, logger *slog.Logger) (int64, error) {
	info, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := info.Size()
	if size < headerLen {
		// The header is synced before any append, so a shorter file holds no acknowledged
		// event: it is a log whose creation was interrupted.
		if size > 0 {
			logger.Warn("event log: rewriting an incomplete header", "path", f.Name(), "size", size)
		}
		return headerLen, create(f)
	}
	end, err := s.replay(f, size)
	if err != nil || end == size {
		return end, err
	}
	blank, err := zeroFrom(f, end, size)
	if err != nil {
		return 0, err
	}
	if err := f.Truncate(end); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	if blank {
		// The zeros a process wrote ahead of its log before it was killed (disk.write):
		// nothing was torn. (An interrupted write whose blocks never reached the disk
		// leaves zeros too; it was not acknowledged either.)
		logger.Info("event log: cut off the zeros written ahead of its end", "path", f.Name(), "offset", end, "bytes", size-end)
		return end, nil
	}
	logger.Warn("event log: truncated a torn tail left by an interrupted write",
		"path", f.Name(), "offset", end, "dropped_bytes", size-end)
	return end, nil
}

// zeroFrom reports whether every byte of r from off to size is zero.
func zeroFrom(r io.ReaderAt, off, size int64) (bool, error) {
	buf := make([]byte, min(windowLen, size-off))
	for off < size {
		b := buf[:min(int64(len(buf)), size-off)]
		if _, err := r.ReadAt(b, off); err != nil {
			return false, err
		}
		for _, c := range b {
			if c != 0 {
				return false, nil
			}
		}
		off += int64(len(b))
	}
	return true, nil
}

// replay reads a log of size bytes (at least a header) from r into s and returns where its
// intact frames end: size, or the start of a torn tail that the caller truncates. Damage
// before the tail is an error wrapping ErrCorrupt. It reads through a window, so memory
// beyond the events it loads is bounded by the largest frame, never by a length field.
func (s *Store) replay(r io.ReaderAt, size int64) (int64, error) {
	w := &window{r: r, size: size}
	h, ok, err := w.at(0, headerLen)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("%w: %d bytes, shorter than a header", eventstore.ErrCorrupt, size)
	}
	if err := checkHeader(h); err != nil {
		return 0, err
	}
	off := int64(headerLen)
	for off < size {
		body, ok, err := w.frame(off)
		if err != nil {
			return 0, err
		}
		if !ok {
			break
		}
		if err := s.apply(off, body); err != nil {
			return 0, fmt.Errorf("%w: record at offset %d: %v", eventstore.ErrCorrupt, off, err)
		}
		off += frameHeaderLen + int64(len(body))
	}
	if off == size {
		return size, nil
	}
	later, err := w.laterBatch(off)
	if err != nil {
		return 0, err
	}
	if later >= 0 {
		return 0, fmt.Errorf("%w: record at offset %d is damaged, and records written after it follow at offset %d", eventstore.ErrCorrupt, off, later)
	}
	return off, nil
}

// create writes the header of a new log and makes the file durable.
func create(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt(header(), 0); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return syncDir(filepath.Dir(f.Name()))
}

// apply adds the events of the frame at offset off, whose body is body, to the index,
// checking that it continues the log. The events themselves stay in the log.
func (s *Store) apply(off int64, body []byte) error {
	d := decoder{b: body}
	h := d.head()
	switch {
	case d.err != nil:
		return d.err
	case h.first != s.last()+1:
		return fmt.Errorf("position %d, want %d", h.first, s.last()+1)
	case len(h.stream) == 0:
		return errors.New("empty stream name")
	case h.n == 0 || h.n > uint64(len(body)):
		return fmt.Errorf("%d events", h.n)
	}
	st := s.streams[string(h.stream)]
	want := eventstore.Revision(0)
	if st != nil {
		want = eventstore.Revision(len(st.positions))
	}
	if h.revision != want {
		return fmt.Errorf("stream %s at revision %d, want %d", h.stream, h.revision, want)
	}
	for i := range eventstore.Position(h.n) {
		d.take(16)
		typ := d.field()
		d.field()
		d.field()
		if d.err != nil {
			return d.err
		}
		if len(typ) == 0 {
			return fmt.Errorf("event at position %d has no type", h.first+i)
		}
	}
	if len(d.b) > 0 {
		return fmt.Errorf("%d trailing bytes", len(d.b))
	}
	if st == nil {
		st = s.newStream(string(h.stream))
	}
	for i := range eventstore.Position(h.n) {
		s.streamOf.add(st.id)
		s.frames.add(off)
		st.positions = append(st.positions, h.first+i)
	}
	return nil
}

// eventIn decodes the event at position p of stream from a frame body, into bytes of its
// own; the type is a new string, the stream name is stream's.
func eventIn(body []byte, stream string, p eventstore.Position) (eventstore.RecordedEvent, error) {
	d := decoder{b: body}
	h := d.head()
	switch {
	case d.err != nil:
		return eventstore.RecordedEvent{}, d.err
	case string(h.stream) != stream || p < h.first || uint64(p-h.first) >= h.n:
		return eventstore.RecordedEvent{}, fmt.Errorf("holds %q at positions %d+%d, not %q at %d", h.stream, h.first, h.n, stream, p)
	}
	for i := h.first; ; i++ {
		id := d.take(16)
		typ, data, meta := d.field(), d.field(), d.field()
		if d.err != nil {
			return eventstore.RecordedEvent{}, d.err
		}
		if i == p {
			e := eventstore.RecordedEvent{Stream: stream, Revision: h.revision + eventstore.Revision(p-h.first), Position: p,
				ID: [16]byte(id), Type: string(typ), RecordedAt: h.at}
			e.Data, e.Metadata = copyPair(data, meta)
			return e, nil
		}
	}
}

// frameHead is what a frame body says before its events.
type frameHead struct {
	first    eventstore.Position
	revision eventstore.Revision
	at       time.Time
	stream   []byte
	n        uint64 // events
}

func (d *decoder) head() frameHead {
	d.u64() // the batch offset only matters when telling a torn tail from damage
	return frameHead{
		first:    eventstore.Position(d.u64()),
		revision: eventstore.Revision(d.u64()),
		at:       time.Unix(0, int64(d.u64())).UTC(),
		stream:   d.field(),
		n:        d.uvarint(),
	}
}

// readFrame returns the body of the acknowledged frame at off in r, checking its magic and
// checksum (a mismatch is ErrCorrupt). The body is in buf, grown as needed and returned
// for reuse.
func readFrame(r io.ReaderAt, off int64, buf []byte) (body, _ []byte, err error) {
	// One read usually gets the whole frame: appends are a few events of a few hundred bytes.
	if cap(buf) < 2048 {
		buf = make([]byte, 2048)
	}
	buf = buf[:cap(buf)]
	n, err := r.ReadAt(buf, off)
	if n < frameHeaderLen {
		if err == nil || err == io.EOF {
			err = fmt.Errorf("%w: frame at offset %d cut short", eventstore.ErrCorrupt, off)
		}
		return nil, buf, err
	}
	h := [frameHeaderLen]byte(buf)
	length := le.Uint32(h[4:8])
	if [4]byte(h[:4]) != frameMagic || length > maxAppendSize {
		return nil, buf, fmt.Errorf("%w: no frame at offset %d", eventstore.ErrCorrupt, off)
	}
	size := frameHeaderLen + int(length)
	if n < size {
		if cap(buf) < size {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := r.ReadAt(buf[frameHeaderLen:], off+frameHeaderLen); err != nil {
			if err == io.EOF {
				err = fmt.Errorf("%w: frame at offset %d cut short", eventstore.ErrCorrupt, off)
			}
			return nil, buf, err
		}
	}
	body = buf[frameHeaderLen:size]
	if crc32.Update(crc32.Checksum(h[4:8], castagnoli), castagnoli, body) != le.Uint32(h[8:12]) {
		return nil, buf, fmt.Errorf("%w: frame at offset %d fails its checksum", eventstore.ErrCorrupt, off)
	}
	return body, buf, nil
}

var errShort = errors.New("record shorter than its fields")

// decoder reads a record body; after the first error every read returns zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err == nil && n > len(d.b) {
		d.err = errShort
	}
	if d.err != nil {
		return make([]byte, n) // zeros keep fixed-size reads simple; the error is reported
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u64() uint64 { return le.Uint64(d.take(8)) }

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errShort
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) field() []byte {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = errShort
	}
	if d.err != nil {
		return nil
	}
	return d.take(int(n))
}

// window reads the log through a buffer, sequentially while replaying and forward while
// looking past damage.
type window struct {
	r    io.ReaderAt
	size int64
	off  int64 // file offset of buf[0]
	buf  []byte
}

const windowLen = 1 << 20

// at returns the n bytes at offset o, valid until the next call, or ok false if the file
// ends first.
func (w *window) at(o int64, n int) (b []byte, ok bool, err error) {
	if int64(n) > w.size-o {
		return nil, false, nil
	}
	if o >= w.off && o+int64(n) <= w.off+int64(len(w.buf)) {
		return w.buf[o-w.off:][:n], true, nil
	}
	l := min(int64(max(n, windowLen)), w.size-o)
	if int64(cap(w.buf)) < l {
		w.buf = make([]byte, l)
	}
	w.buf = w.buf[:l]
	if _, err := w.r.ReadAt(w.buf, o); err != nil {
		w.buf = w.buf[:0]
		return nil, false, err
	}
	w.off = o
	return w.buf[:n], true, nil
}

// frame returns the body of the intact frame at o, or ok false if there is none there.
func (w *window) frame(o int64) (body []byte, ok bool, err error) {
	h, ok, err := w.at(o, frameHeaderLen)
	if !ok || [4]byte(h[:4]) != frameMagic {
		return nil, false, err
	}
	length := [4]byte(h[4:8]) // h may move when the body is read
	sum := le.Uint32(h[8:12])
	n := le.Uint32(length[:])
	if n < fixedFields || n > maxAppendSize {
		return nil, false, nil
	}
	body, ok, err = w.at(o+frameHeaderLen, int(n))
	if !ok || crc32.Update(crc32.Checksum(length[:], castagnoli), castagnoli, body) != sum {
		return nil, false, err
	}
	return body, true, nil
}

// laterBatch looks past the damaged frame at from for an intact frame written by a later
// batch and returns its offset, or -1 if there is none. Only the last batch can be torn by
// a crash (a batch is written only after the one before it was synced), so an intact later
// batch means the damage hit acknowledged data. Intact frames of the damaged frame's own
// batch may follow it: pages of an unsynced write can reach the disk out of order.
func (w *window) laterBatch(from int64) (int64, error) {
	o := from
	for o+frameHeaderLen <= w.size {
		body, ok, err := w.frame(o)
		if err != nil {
			return 0, err
		}
		if ok {
			if int64(le.Uint64(body)) > from {
				return o, nil
			}
			o += frameHeaderLen + int64(len(body))
			continue
		}
		if o, err = w.nextMagic(o + 1); err != nil {
			return 0, err
		}
	}
	return -1, nil
}

// nextMagic returns the offset of the next frame magic at or after o, or the file size.
func (w *window) nextMagic(o int64) (int64, error) {
	for o+int64(len(frameMagic)) <= w.size {
		n := int(min(windowLen, w.size-o))
		b, _, err := w.at(o, n)
		if err != nil {
			return 0, err
		}
		if i := bytes.Index(b, frameMagic[:]); i >= 0 {
			return o + int64(i), nil
		}
		o += int64(n - len(frameMagic) + 1) // a magic may straddle the boundary
	}
	return w.size, nil
}
