package pebble

import (
	kv "github.com/cockroachdb/pebble"
)

// EncodePayment and DecodePayment expose the row codec to the specs.
var (
	EncodePayment = encodePayment
	DecodePayment = decodePayment
)

// Index prefixes, for IndexKeys.
const (
	CreatedIndex = prefixCreated
	StatusIndex  = prefixStatus
	OpenIndex    = prefixOpen
	WaitingIndex = prefixWaiting
)

// IndexKeys counts the keys under an index prefix.
func IndexKeys(s *Store, prefix byte) int {
	it, err := s.db.NewIter(&kv.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
	if err != nil {
		panic(err)
	}
	defer it.Close()
	n := 0
	for ok := it.First(); ok; ok = it.Next() {
		n++
	}
	return n
}

// Put writes a raw key, for specs of what Open finds.
func Put(s *Store, key, value []byte) error { return s.db.Set(key, value, kv.NoSync) }
