package embedded

import (
	"io"
	"sync"
)

// memChunk is how many bytes of the memory log are allocated at a time.
const memChunk = 4 << 20

// memLog is memory mode's log: the frames a data directory would write, appended into
// fixed-size chunks of bytes. A frame may span two chunks. Holding the events as bytes
// rather than as structs with pointers keeps them out of the garbage collector's marking:
// a chunk is one pointer-free object however many events it holds.
type memLog struct {
	mu     sync.RWMutex // readers read acknowledged frames without the store's lock
	chunks [][]byte     // each memChunk long; the last one filled up to size
	size   int64
}

// append adds b at the end of the log and returns its offset.
func (l *memLog) append(b []byte) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	off := l.size
	for len(b) > 0 {
		at := int(l.size % memChunk)
		if at == 0 {
			l.chunks = append(l.chunks, make([]byte, memChunk))
		}
		n := copy(l.chunks[len(l.chunks)-1][at:], b)
		b = b[n:]
		l.size += int64(n)
	}
	return off
}

// ReadAt reads what the log holds at off; reading past its end is io.EOF.
func (l *memLog) ReadAt(p []byte, off int64) (int, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	n := 0
	for n < len(p) && off < l.size {
		c := l.chunks[off/memChunk][off%memChunk:]
		c = c[:min(int64(len(c)), l.size-off)]
		k := copy(p[n:], c)
		n += k
		off += int64(k)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
