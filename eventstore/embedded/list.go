package embedded

// chunkLen is how many elements a list allocates at a time.
const chunkLen = 1024

// list is a sequence indexed from 0, kept in fixed-size chunks so that growing it never
// copies what is already there. Its front can be dropped, freeing memory a chunk at a time,
// and it can start at any index. The zero value is an empty list starting at 0.
type list[T any] struct {
	chunks [][]T // chunks[0][0] is index base
	base   int   // a multiple of chunkLen
	start  int   // first index held: those before it were dropped or never added
	n      int   // indexes start … n-1 are held
}

// startAt makes an empty list whose first element will have index i.
func (l *list[T]) startAt(i int) {
	*l = list[T]{base: i - i%chunkLen, start: i, n: i}
}

func (l *list[T]) add(v T) {
	if (l.n-l.base)/chunkLen == len(l.chunks) {
		l.chunks = append(l.chunks, make([]T, chunkLen))
	}
	*l.at(l.n) = v
	l.n++
}

// at returns element i, which must be held.
func (l *list[T]) at(i int) *T {
	i -= l.base
	return &l.chunks[i/chunkLen][i%chunkLen]
}

func (l *list[T]) has(i int) bool { return i >= l.start && i < l.n }

// dropFirst drops the first element held, releasing its chunk once the chunk is empty.
func (l *list[T]) dropFirst() {
	var zero T
	*l.at(l.start) = zero
	l.start++
	if l.start == l.base+chunkLen {
		l.chunks[0] = nil
		l.chunks = l.chunks[1:]
		l.base += chunkLen
	}
}
