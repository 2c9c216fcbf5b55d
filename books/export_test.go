package books

// Refolds is how many times the Tally read a stream back because its payment's state was
// not among the recent ones.
func (t *Tally) Refolds() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.refolds
}
