package pebble

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/paystream/paystream/aggregate"
	"github.com/paystream/paystream/eventstore"
	"github.com/paystream/paystream/projections"
)

// Key prefixes; doc.go describes the layout.
const (
	prefixFormat     = 'v'
	prefixCheckpoint = 'k'
	prefixPayment    = 'p'
	prefixHistory    = 'h'
	prefixCreated    = 'c'
	prefixStatus     = 's'
	prefixOpen       = 'o'
	prefixWaiting    = 'w'
	prefixDead       = 'd'
)

var (
	formatKey     = []byte{prefixFormat}
	checkpointKey = []byte{prefixCheckpoint}
)

// timeLen is the width of a time in a key.
const timeLen = 8

// appendTime appends t as its Unix microseconds, sign bit flipped, big-endian: byte order is
// time order, the zero time included (it sorts first). Times outside what int64 microseconds
// hold (only a caller's filter bound can be) are clamped to the ends.
func appendTime(b []byte, t time.Time) []byte {
	var us int64
	switch {
	case t.Before(minTime):
		us = math.MinInt64
	case t.After(maxTime):
		us = math.MaxInt64
	default:
		us = t.UnixMicro()
	}
	return binary.BigEndian.AppendUint64(b, uint64(us)^(1<<63))
}

var (
	minTime = time.UnixMicro(math.MinInt64)
	maxTime = time.UnixMicro(math.MaxInt64)
	// zeroMicros is the zero time.Time in Unix microseconds.
	zeroMicros = time.Time{}.UnixMicro()
)

// readTime reads a time appendTime wrote; the zero time comes back as time.Time{}.
func readTime(b []byte) time.Time {
	us := int64(binary.BigEndian.Uint64(b) ^ (1 << 63))
	if us == zeroMicros {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

func paymentKey(orderID string) []byte {
	return append([]byte{prefixPayment}, orderID...)
}

// historyPrefix is the prefix of every history key of a payment: the orderId is
// length-prefixed so that one payment's prefix never covers another's.
func historyPrefix(b []byte, orderID string) []byte {
	b = append(b, prefixHistory)
	b = binary.AppendUvarint(b, uint64(len(orderID)))
	return append(b, orderID...)
}

func historyKey(b []byte, h projections.History) []byte {
	b = historyPrefix(b, h.OrderID)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Position))
	return binary.BigEndian.AppendUint32(b, uint32(h.Seq))
}

// historyKeyTail reads the position and seq at the end of a history key.
func historyKeyTail(k []byte) (eventstore.Position, int) {
	n := len(k)
	return eventstore.Position(binary.BigEndian.Uint64(k[n-12 : n-4])), int(binary.BigEndian.Uint32(k[n-4:]))
}

// timeKey is an index key: prefix, then tag (a status and its NUL terminator, or nothing),
// then the time and the orderId, so that an index is in (time, orderId) order.
func timeKey(prefix byte, tag string, t time.Time, orderID string) []byte {
	b := make([]byte, 0, 1+len(tag)+timeLen+len(orderID))
	b = append(b, prefix)
	b = append(b, tag...)
	b = appendTime(b, t)
	return append(b, orderID...)
}

// statusTag is the part of a status index key before the time: the status, NUL-terminated
// so that no status's keys fall inside another's.
func statusTag(s aggregate.Status) string { return string(s) + "\x00" }

func deadKey(p eventstore.Position) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefixDead}, uint64(p))
}

// successor is the first key after k in byte order: k followed by 0x00.
func successor(k []byte) []byte { return append(k[:len(k):len(k)], 0) }

// prefixEnd is the first key after every key that starts with p (nil: none, when p is all
// 0xff bytes).
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i]++; end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// indexKeys are the secondary index keys a row has (doc.go): in the created index always,
// in its status's index always, in the open index while recovery may find it open, in the
// waiting index while it waits for a deposit.
func indexKeys(p *projections.Payment) [][]byte {
	keys := make([][]byte, 0, 4)
	keys = append(keys, timeKey(prefixCreated, "", p.CreatedAt, p.OrderID),
		timeKey(prefixStatus, statusTag(p.Status), p.CreatedAt, p.OrderID))
	if mayBeOpen(p) {
		keys = append(keys, timeKey(prefixOpen, "", p.UpdatedAt, p.OrderID))
	}
	if p.Status == aggregate.StatusWaitingForDeposit {
		keys = append(keys, timeKey(prefixWaiting, "", projections.DueCursorOf(*p).DueDate, p.OrderID))
	}
	return keys
}

// endOfTime is later than any time a row holds: aggregate.State.Open is monotonic in its
// cutoff (a payment open at a cutoff is open at every later one), so Open(endOfTime) is
// "open at some cutoff".
var endOfTime = time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)

// mayBeOpen reports whether recovery could find the payment open at some cutoff, by the
// aggregate's rule. The status check first spares the common settled row the conversion.
func mayBeOpen(p *projections.Payment) bool {
	candidate := p.Status == aggregate.StatusUnknown || p.Status == aggregate.StatusExecuting
	for i := range p.Refunds {
		candidate = candidate || p.Refunds[i].Status == aggregate.StatusUnknown || p.Refunds[i].Status == aggregate.StatusExecuting
	}
	return candidate && projections.StateOf(*p).Open(endOfTime)
}
