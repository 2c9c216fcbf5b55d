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
