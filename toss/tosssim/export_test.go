package tosssim

// IdempotencyKeysHeld is how many idempotency keys the simulator keeps.
func (s *Simulator) IdempotencyKeysHeld() int { return s.idem.held() }

// OpenCold is Open keeping no payment in memory once nobody uses it, so that every
// lookup, confirm and cancel reads the payment back from disk.
func OpenCold(dir string, opts Options) (*Simulator, error) { return open(dir, opts, 0) }

// Resident is how many orders the simulator holds in memory, and (with a database) how
// many idempotency keys are in flight.
func (s *Simulator) Resident() (orders, keysInFlight int) {
	for i := range s.orders.shards {
		sh := &s.orders.shards[i]
		sh.mu.Lock()
		orders += len(sh.hot)
		sh.mu.Unlock()
	}
	if s.disk != nil {
		for i := range s.idem.shards {
			s.idem.shards[i].mu.Lock()
			keysInFlight += len(s.idem.shards[i].flight)
			s.idem.shards[i].mu.Unlock()
		}
	}
	return orders, keysInFlight
}

// HotOrders is how many unpinned orders a simulator made by Open keeps in memory.
const HotOrders = hotOrders
