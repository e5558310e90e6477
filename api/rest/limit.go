package rest

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is a token bucket per key (a client address, a username). Keys unseen for a while are dropped now and
// then, so the map stays as small as the set of recent clients.
type Limiter struct {
	limit rate.Limit
	burst int

	mu    sync.Mutex
	keys  map[string]*bucket
	swept time.Time
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
}

// NewLimiter allows each key a burst, then limit events per second.
func NewLimiter(limit rate.Limit, burst int) *Limiter {
	return &Limiter{limit: limit, burst: burst, keys: map[string]*bucket{}}
}

// Allow reports whether the key may act now, and counts it if so.
func (l *Limiter) Allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute {
		// A bucket idle this long is full again: forgetting it changes nothing.
		idle := 10 * time.Minute
		if l.limit > 0 {
			idle = max(idle, time.Duration(float64(l.burst)/float64(l.limit)*float64(time.Second)))
		}
		for k, b := range l.keys {
			if now.Sub(b.seen) > idle {
				delete(l.keys, k)
			}
		}
		l.swept = now
	}
	b, ok := l.keys[key]
	if !ok {
		b = &bucket{l: rate.NewLimiter(l.limit, l.burst)}
		l.keys[key] = b
	}
	b.seen = now
	return b.l.AllowN(now, 1)
}
