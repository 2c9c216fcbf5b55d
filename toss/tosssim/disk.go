package tosssim

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble"

	"github.com/paystream/paystream/localkv"
)

// A simulator made by Open keeps its state in a Pebble database (localkv). Keys start with
// one byte saying what they hold:
//
//	m<name>                     meta: "format" → diskFormat; "epoch" → how many times opened
//	o<orderId>                  an order (encodeOrder)
//	k<paymentKey>               the orderId whose current session issued paymentKey
//	t<at><seq>                  a transaction (encodeTx), in the order Toss lists them
//	h<transactionKey>           that transaction's <at><seq>
//	r<orderId>\x00<at><seq>     (empty) the transactions of an order
//	i<scope hash>               an Idempotency-Key's first use (<firstUsed>)
//	x<firstUsed><scope hash>    its first use and answer (encodeKept), in first-use order
//
// <at> and <firstUsed> are a time as 8 bytes of Unix seconds, sign bit flipped, and 4 of
// nanoseconds, big-endian, so that byte order is time order; <seq> is 8 bytes big-endian.
// The scope hash is SHA-256 of the scope: keys of any length, and no secret key on disk.
// The answers are kept in first-use order rather than by hash so that the bulk of what a
// payment writes lands at the end of the key space, where Pebble's compactions have little
// to merge it with; only the small i entries are spread over it.
// orderIds of sessions hold no \x00 (validOrderID), and only they have transactions.
//
// Every write is a batch committed with pebble.NoSync: an order's change, its paymentKey
// and its transaction go in one batch, so a crash loses each change whole or not at all.

// diskFormat names the layout above; Open refuses a database written in another.
const diskFormat = "tosssim-1"

var (
	metaFormat = []byte("mformat")
	metaEpoch  = []byte("mepoch")
)

// diskState is a simulator's database and what it keeps there besides orders.
type diskState struct {
	db      *pebble.DB
	dir     string
	journal *diskJournal
	idem    *idempotency
}

func openDisk(dir string) (*diskState, error) {
	db, err := localkv.Open(dir)
	if err != nil {
		return nil, err
	}
	d := &diskState{db: db, dir: dir}
	epoch, err := d.start()
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	d.journal = &diskJournal{d: d, epoch: epoch}
	d.idem = newIdempotency(diskKept{d})
	return d, nil
}

// start checks the format and counts this opening: its number prefixes the sequence
// numbers of the transactions recorded until the next, so that they follow every earlier
// one without a scan of the journal.
func (d *diskState) start() (epoch int64, err error) {
	switch format, ok, err := d.get(metaFormat); {
	case err != nil:
		return 0, err
	case ok && string(format) != diskFormat:
		return 0, fmt.Errorf("holds %q, not a %s simulator database", format, diskFormat)
	}
	raw, ok, err := d.get(metaEpoch)
	if err != nil {
		return 0, err
	}
	if ok {
		if epoch, err = strconv.ParseInt(string(raw), 10, 64); err != nil {
			return 0, fmt.Errorf("epoch %q: %w", raw, err)
		}
	}
	epoch++
	b := d.db.NewBatch()
	defer b.Close()
	_ = b.Set(metaFormat, []byte(diskFormat), nil)
	_ = b.Set(metaEpoch, []byte(strconv.FormatInt(epoch, 10)), nil)
	return epoch, b.Commit(pebble.Sync)
}

func (d *diskState) close() error {
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("close %s: %w", d.dir, err)
	}
	return nil
}

// get is the value of key, copied, and whether there is one.
func (d *diskState) get(key []byte) ([]byte, bool, error) {
	v, closer, err := d.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer closer.Close()
	return append([]byte(nil), v...), true, nil
}

// must turns a failure of the database into a panic: the simulator cannot answer for
// payments it can no longer read or write, and carrying on would make it contradict
// itself. An HTTP request that meets one is dropped without an answer.
func (d *diskState) must(err error, op string) {
	if err != nil {
		panic(fmt.Sprintf("tosssim: %s in %s: %v", op, d.dir, err))
	}
}

func (d *diskState) mustGet(key []byte, op string) ([]byte, bool) {
	v, ok, err := d.get(key)
	d.must(err, op)
	return v, ok
}

func prefixed(p byte, s string) []byte {
	k := make([]byte, 0, 1+len(s))
	return append(append(k, p), s...)
}

// loadOrder reads orderID's order, or nil.
func (d *diskState) loadOrder(orderID string) *order {
	v, ok := d.mustGet(prefixed('o', orderID), "read order "+orderID)
	if !ok {
		return nil
	}
	o, err := decodeOrder(orderID, v)
	d.must(err, "decode order "+orderID)
	o.encoded, o.indexedKey = v, o.paymentKey
	return o
}

func (d *diskState) orderOfKey(paymentKey string) (string, bool) {
	v, ok := d.mustGet(prefixed('k', paymentKey), "read paymentKey")
	return string(v), ok
}

// writeOrder writes o, encoded as enc, with the change of its paymentKey since indexedKey
// and its pending transactions, in one batch. Call with o.mu held.
func (d *diskState) writeOrder(o *order, enc []byte) {
	b := d.db.NewBatch()
	defer b.Close()
	_ = b.Set(prefixed('o', o.id), enc, nil)
	if o.indexedKey != o.paymentKey {
		if o.indexedKey != "" {
			_ = b.Delete(prefixed('k', o.indexedKey), nil)
		}
		if o.paymentKey != "" {
			_ = b.Set(prefixed('k', o.paymentKey), []byte(o.id), nil)
		}
	}
	for _, t := range o.pending {
		d.journal.add(b, t)
	}
	d.must(b.Commit(pebble.NoSync), "write order "+o.id)
}

// timeKey is t as 12 bytes whose byte order is time order.
func timeKey(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix())^1<<63)
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

func timeOfKey(b []byte) time.Time {
	return time.Unix(int64(binary.BigEndian.Uint64(b)^1<<63), int64(binary.BigEndian.Uint32(b[8:]))).UTC()
}

// diskJournal keeps the transactions in the database.
type diskJournal struct {
	d        *diskState
	epoch    int64
	n        atomic.Int64
	altering sync.Mutex // alterations read, change and write a transaction
}

var _ journal = (*diskJournal)(nil)

// txPlace is t's <at><seq>.
func txPlace(t txRecord) []byte {
	return binary.BigEndian.AppendUint64(timeKey(make([]byte, 0, 20), t.at), uint64(t.seq))
}

// record adds t to o's pending transactions, which the orderTable writes with o. Unlike
// memJournal it does not look for t's key among those written: transaction keys are
// random (rand.Text), and the look-up would read the disk for every transaction.
func (j *diskJournal) record(o *order, t txRecord) {
	if t.key == "" {
		return
	}
	for _, p := range o.pending {
		if p.key == t.key {
			return
		}
	}
	t.seq = j.epoch<<40 | j.n.Add(1)
	o.pending = append(o.pending, t)
}

func (j *diskJournal) add(b *pebble.Batch, t txRecord) {
	place := txPlace(t)
	_ = b.Set(append([]byte{'t'}, place...), encodeTx(nil, t), nil)
	_ = b.Set(prefixed('h', t.key), place, nil)
	_ = b.Set(append(append(prefixed('r', t.orderID), 0), place...), nil, nil)
}

func (j *diskJournal) approvedNotWithdrawn(o *order) bool {
	var txs []*txRecord
	for _, t := range j.ofOrderAll(o.id) {
		txs = append(txs, &t)
	}
	for i := range o.pending {
		txs = append(txs, &o.pending[i])
	}
	return approvalsStanding(txs, o.id) > 0
}

func (j *diskJournal) visible(lo, hi time.Time, keep func(*txRecord) bool) []txRecord {
	iter, err := j.d.db.NewIter(&pebble.IterOptions{
		LowerBound: timeKey([]byte{'t'}, lo),
		UpperBound: timeKey([]byte{'t'}, hi.Add(time.Nanosecond)),
	})
	j.d.must(err, "list transactions")
	defer iter.Close()
	var out []txRecord
	for iter.First(); iter.Valid(); iter.Next() {
		t, err := decodeTx(iter.Value())
		j.d.must(err, "decode transaction")
		if !t.hidden && keep(&t) {
			out = append(out, t)
		}
	}
	j.d.must(iter.Error(), "list transactions")
	return out
}

func (j *diskJournal) ofOrder(orderID string) []txRecord {
	var out []txRecord
	for _, t := range j.ofOrderAll(orderID) {
		if !t.hidden {
			out = append(out, t)
		}
	}
	return out
}

// ofOrderAll is every transaction of orderID, hidden ones too, in listing order.
func (j *diskJournal) ofOrderAll(orderID string) []txRecord {
	prefix := append(prefixed('r', orderID), 0)
	iter, err := j.d.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: append(prefixed('r', orderID), 1)})
	j.d.must(err, "list transactions of "+orderID)
	defer iter.Close()
	var out []txRecord
	for iter.First(); iter.Valid(); iter.Next() {
		v, ok := j.d.mustGet(append([]byte{'t'}, iter.Key()[len(prefix):]...), "read transaction")
		if !ok {
			continue
		}
		t, err := decodeTx(v)
		j.d.must(err, "decode transaction")
		out = append(out, t)
	}
	j.d.must(iter.Error(), "list transactions of "+orderID)
	return out
}

func (j *diskJournal) alter(key string, a Alteration) (txRecord, error) {
	j.altering.Lock()
	defer j.altering.Unlock()
	place, ok := j.d.mustGet(prefixed('h', key), "read transaction")
	if !ok {
		return txRecord{}, fmt.Errorf("%w: %s", ErrNoTransaction, key)
	}
	tkey := append([]byte{'t'}, place...)
	v, ok := j.d.mustGet(tkey, "read transaction")
	if !ok {
		return txRecord{}, fmt.Errorf("%w: %s", ErrNoTransaction, key)
	}
	t, err := decodeTx(v)
	j.d.must(err, "decode transaction")
	t.apply(a)
	j.d.must(j.d.db.Set(tkey, encodeTx(nil, t), pebble.NoSync), "alter transaction")
	return t, nil
}

// diskKept keeps the answered idempotency keys in the database.
type diskKept struct{ d *diskState }

func (k diskKept) store(h [sha256.Size]byte, firstUsed time.Time, a answer) {
	b := k.d.db.NewBatch()
	defer b.Close()
	first := timeKey(nil, firstUsed)
	_ = b.Set(append([]byte{'i'}, h[:]...), first, nil)
	_ = b.Set(append(append([]byte{'x'}, first...), h[:]...), encodeKept(nil, firstUsed, a), nil)
	k.d.must(b.Commit(pebble.NoSync), "keep idempotency key")
}

// load reads the answer kept for h and when h was first used, if it was kept.
func (k diskKept) load(h [sha256.Size]byte) (*answer, time.Time, bool) {
	first, ok := k.d.mustGet(append([]byte{'i'}, h[:]...), "read idempotency key")
	if !ok {
		return nil, time.Time{}, false
	}
	v, ok := k.d.mustGet(append(append([]byte{'x'}, first...), h[:]...), "read idempotency answer")
	if !ok {
		return nil, time.Time{}, false
	}
	_, a, err := decodeKept(v)
	k.d.must(err, "decode idempotency answer")
	return &a, timeOfKey(first), true
}

// sweep deletes the keys kept for 15 days, reading only the index entries of those keys.
func (k diskKept) sweep(now time.Time, idem *idempotency) {
	iter, err := k.d.db.NewIter(&pebble.IterOptions{
		LowerBound: []byte{'x'},
		UpperBound: timeKey([]byte{'x'}, now.Add(-idempotencyKeyTTL).Add(time.Nanosecond)),
	})
	k.d.must(err, "sweep idempotency keys")
	defer iter.Close()
	for iter.First(); iter.Valid(); iter.Next() {
		x := iter.Key()
		first := timeOfKey(x[1:13])
		var h [sha256.Size]byte
		copy(h[:], x[13:])
		k.forget(idem.shard(h), append([]byte(nil), x...), h, first)
	}
	k.d.must(iter.Error(), "sweep idempotency keys")
}

// forget deletes the index entry xkey and the key h, unless h was answered again since
// first (then only the index entry goes) or is claimed again now (then both stay for the
// next sweep, which finds the new answer or none).
func (k diskKept) forget(sh *idemShard, xkey []byte, h [sha256.Size]byte, first time.Time) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.flight[h] != nil {
		return
	}
	b := k.d.db.NewBatch()
	defer b.Close()
	_ = b.Delete(xkey, nil)
	ikey := append([]byte{'i'}, h[:]...)
	if kept, ok := k.d.mustGet(ikey, "read idempotency key"); ok && timeOfKey(kept).Equal(first) {
		_ = b.Delete(ikey, nil)
	}
	k.d.must(b.Commit(pebble.NoSync), "forget idempotency key")
}

func (k diskKept) count(*idempotency) int {
	iter, err := k.d.db.NewIter(&pebble.IterOptions{LowerBound: []byte{'i'}, UpperBound: []byte{'j'}})
	k.d.must(err, "count idempotency keys")
	defer iter.Close()
	n := 0
	for iter.First(); iter.Valid(); iter.Next() {
		n++
	}
	return n
}
