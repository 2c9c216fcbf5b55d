package localkv

import (
	"fmt"
	"os"

	"github.com/cockroachdb/pebble"
)

// CacheBytes is the block cache of each database, MemTableBytes one memtable (Pebble keeps up
// to two): together what a database holds in memory, however much it stores.
const (
	CacheBytes    = 8 << 20
	MemTableBytes = 4 << 20
)

// Open opens (creating it if absent) the database in dir with bounded memory. The caller
// closes it. Errors name dir.
func Open(dir string) (*pebble.DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	cache := pebble.NewCache(CacheBytes)
	defer cache.Unref() // the database holds its own reference
	db, err := pebble.Open(dir, &pebble.Options{
		Cache:                       cache,
		MemTableSize:                MemTableBytes,
		MemTableStopWritesThreshold: 2,
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
