package embedded

// OpenUncached opens dir like Open, but keeps no acknowledged event in memory: every read
// and every follow reads the log.
func OpenUncached(dir string) (*Store, error) {
	s, err := Open(dir)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cacheLimit = 0
	return s, nil
}

// LogEnd is where the log ends: the file is longer while the store is open, by the zeros
// written ahead of it. Read it between appends.
func LogEnd(s *Store) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.disk.size
}

// OpenMemoryUncached opens a memory store that keeps no acknowledged event as a struct:
// every read and every follow reads its log of bytes.
func OpenMemoryUncached() *Store {
	s := OpenMemory()
	s.cacheLimit = 0
	return s
}
