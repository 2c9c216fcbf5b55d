package localkv

import (
	"hash/maphash"
	"sync/atomic"
)

// FilterBytes is the size of a Filter: at 8 Mbit, a filter of a million keys answers "may
// contain" for about 2% of the keys it was not given, of 250,000 keys for one in 100,000.
const FilterBytes = 1 << 20

// filterProbes is how many bits a key sets (7 is optimal at about 10 bits per key).
const filterProbes = 7

// Filter is a bloom filter of fixed size in front of a database: a lookup of a key the
// database does not hold — in the stores kept here, every new message id checked for
// idempotency — costs a few memory reads instead of reading a block of each table the key
// could be in. MayContain never says no for a key that was added; a yes may be wrong (more
// often as keys accumulate), and the caller then reads the database. Its memory is
// FilterBytes whatever it holds. It is built anew at each open, from the database's keys,
// with a seed of its own. Safe for concurrent use.
type Filter struct {
	seed maphash.Seed
	bits []atomic.Uint64
}

// NewFilter returns an empty Filter.
func NewFilter() *Filter {
	return &Filter{seed: maphash.MakeSeed(), bits: make([]atomic.Uint64, FilterBytes/8)}
}

// positions are key's bit positions: double hashing on one 64-bit hash.
func (f *Filter) positions(key string) (h1, h2, n uint32) {
	h := maphash.String(f.seed, key)
	return uint32(h), uint32(h>>32) | 1, uint32(len(f.bits) * 64)
}

// Add records key.
func (f *Filter) Add(key string) {
	h1, h2, n := f.positions(key)
	for i := range uint32(filterProbes) {
		pos := (h1 + i*h2) % n
		f.bits[pos/64].Or(1 << (pos % 64))
	}
}

// MayContain reports false when key was never added.
func (f *Filter) MayContain(key string) bool {
	h1, h2, n := f.positions(key)
	for i := range uint32(filterProbes) {
		pos := (h1 + i*h2) % n
		if f.bits[pos/64].Load()&(1<<(pos%64)) == 0 {
			return false
		}
	}
	return true
}
