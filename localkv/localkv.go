package localkv

import (
	"errors"
	"fmt"
	"os"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"
)

// CacheBytes is the block cache of each database, MemTableBytes one memtable (Pebble keeps up
// to two): together what a database holds in memory, however much it stores.
const (
	CacheBytes    = 8 << 20
	MemTableBytes = 4 << 20
)

// filterBitsPerKey sizes the Bloom filter of every table: a read of a key that is not
// there (a new order, a new idempotency key) skips the tables that cannot hold it instead
// of reading their blocks, for about 1% false positives.
const filterBitsPerKey = 10

// Open opens (creating it if absent) the database in dir with bounded memory. The caller
// closes it. Errors name dir.
func Open(dir string) (*pebble.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	// Pebble counts its memtables against the cache: without room for both of them the
	// cache would keep no block at all, and every read would go to the files.
	cache := pebble.NewCache(CacheBytes + 2*MemTableBytes)
	defer cache.Unref() // the database holds its own reference
	db, err := pebble.Open(dir, &pebble.Options{
		Cache:                       cache,
		MemTableSize:                MemTableBytes,
		MemTableStopWritesThreshold: 2,
		Levels:                      []pebble.LevelOptions{{FilterPolicy: bloom.FilterPolicy(filterBitsPerKey)}},
		Logger:                      quiet{},
	})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	return db, nil
}

// quiet drops Pebble's informational log lines; its fatal errors still end the process.
type quiet struct{}

func (quiet) Infof(string, ...interface{}) {}
func (quiet) Errorf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "localkv: "+format+"\n", args...)
}
func (quiet) Fatalf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "localkv: "+format+"\n", args...)
	os.Exit(2)
}

// Scan calls fn with each key that starts with the byte prefix (the key without it) and its
// value, in key order, until fn fails. The slices are valid only during the call. Errors:
// fn's, or the database's.
func Scan(r pebble.Reader, prefix byte, fn func(key, value []byte) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{prefix}, UpperBound: []byte{prefix + 1}})
	if err != nil {
		return err
	}
	for it.First(); it.Valid() && err == nil; it.Next() {
		err = fn(it.Key()[1:], it.Value())
	}
	return errors.Join(err, it.Close())
}
