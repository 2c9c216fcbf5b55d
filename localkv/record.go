package localkv

import (
	"encoding/binary"
	"errors"
)

// The primitives of the hand-written binary values the stores keep here (the read models'
// rows, the simulator's orders): varints (encoding/binary), length-prefixed strings and
// one-byte booleans. Each store lays out its own values with them and marks its layout with
// a format byte of its own.

// ErrCorrupt: a stored value does not decode.
var ErrCorrupt = errors.New("stored value does not decode")

// AppendString appends s, its length (uvarint) first.
func AppendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// AppendBool appends v as one byte, 1 or 0.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// Reader reads a value written with those primitives. The first failure sticks: Err reports
// ErrCorrupt, and every later read returns a zero value.
type Reader struct {
	b   []byte
	err error
}

// ReaderOf reads b.
func ReaderOf(b []byte) Reader { return Reader{b: b} }

// Fail marks the value corrupt.
func (r *Reader) Fail() { r.b, r.err = nil, ErrCorrupt }

// Err is ErrCorrupt once a read failed, else nil.
func (r *Reader) Err() error { return r.err }

// End is Err, or ErrCorrupt when bytes are left over.
func (r *Reader) End() error {
	if r.err == nil && len(r.b) > 0 {
		return ErrCorrupt
	}
	return r.err
}

// Rest is what has not been read yet.
func (r *Reader) Rest() []byte { return r.b }

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.Fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Varint reads a signed varint.
func (r *Reader) Varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.Fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// Take reads the next n bytes (not a copy).
func (r *Reader) Take(n uint64) []byte {
	if n > uint64(len(r.b)) {
		r.Fail()
		return nil
	}
	b := r.b[:n]
	r.b = r.b[n:]
	return b
}

// Str reads what AppendString wrote.
func (r *Reader) Str() string { return string(r.Take(r.Uvarint())) }

// Bool reads what AppendBool wrote.
func (r *Reader) Bool() bool {
	b := r.Take(1)
	return len(b) == 1 && b[0] == 1
}
