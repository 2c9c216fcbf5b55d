package access

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rate is how many requests a key may make per second, with a burst of as many at once.
// The zero Rate is no limit.
type Rate struct {
	PerSecond float64
	Burst     int
}

// ParseRate reads "off", "0", "<n>/s" or "<n>/s,burst=<b>" (burst defaults to n, at least 1).
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return Rate{}, nil
	}
	perS, burst, hasBurst := strings.Cut(s, ",")
	n, ok := strings.CutSuffix(perS, "/s")
	v, err := strconv.ParseFloat(n, 64)
	if !ok || err != nil || v <= 0 {
		return Rate{}, fmt.Errorf("%q is not off or <n>/s[,burst=<b>]", s)
	}
	r := Rate{PerSecond: v, Burst: max(1, int(v))}
	if hasBurst {
		b, ok := strings.CutPrefix(burst, "burst=")
		bi, err := strconv.Atoi(b)
		if !ok || err != nil || bi < 1 {
			return Rate{}, fmt.Errorf("%q: burst is not a whole number ≥ 1", s)
		}
		r.Burst = bi
	}
	return r, nil
}

// Limiter is a token bucket per key name. Safe for concurrent use. Memory is one small
// entry per key name that ever called (names come from configured keys only).
type Limiter struct {
	rate Rate
	now  func() time.Time
	mu   sync.Mutex
	b    map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewLimiter returns a limiter at rate (the zero Rate allows everything); now may be nil
// (time.Now).
func NewLimiter(rate Rate, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{rate: rate, now: now, b: map[string]*bucket{}}
}

// Allow takes one request from name's bucket. When refused it says how long until one
// would be allowed.
func (l *Limiter) Allow(name string) (bool, time.Duration) {
	if l == nil || l.rate.PerSecond <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.b[name]
	if !ok {
		b = &bucket{tokens: float64(l.rate.Burst), at: now}
		l.b[name] = b
	}
	b.tokens = min(float64(l.rate.Burst), b.tokens+now.Sub(b.at).Seconds()*l.rate.PerSecond)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate.PerSecond * float64(time.Second))
}
