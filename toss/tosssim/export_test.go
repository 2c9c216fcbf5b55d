package tosssim

// IdempotencyKeysHeld is how many idempotency keys the simulator keeps.
func (s *Simulator) IdempotencyKeysHeld() int {
	n := 0
	s.idem.Range(func(any, any) bool { n++; return true })
	return n
}
