package aggregate

// DecodeMemo is the bounded memo behind EvolveStored, for the specs.
type DecodeMemo = decodeMemo

// NewDecodeMemo is a memo of capacity entries over decode.
func NewDecodeMemo(capacity int, decode func(name string, data []byte) (Event, error)) *DecodeMemo {
	return newDecodeMemo(capacity, decode)
}

// Get is the memo's decode.
func (m *decodeMemo) Get(name string, data []byte) (Event, error) { return m.get(name, data) }

// Len is how many decodes the memo holds.
func (m *decodeMemo) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byData)
}
