package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// keyCache remembers, for a short while, the principals of the API keys that authenticated, so that a client's
// requests do not each read its key again: a write is then one statement, not two. It holds valid keys only
// (by their hash, never in clear), so it is as large as the number of keys in use. A key revoked through this
// store leaves it at once; one revoked elsewhere (another replica) works here until its entry expires.
type keyCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[[sha256.Size]byte]cachedKey
}

type cachedKey struct {
	p     Principal
	until time.Time
}

// CacheKeys makes Authenticate remember a key's principal for ttl (0: read the key on every request). Call it
// before the store serves requests.
func (s *Store) CacheKeys(ttl time.Duration) {
	s.keys = nil
	if ttl > 0 {
		s.keys = &keyCache{ttl: ttl, m: map[[sha256.Size]byte]cachedKey{}}
	}
}

func (c *keyCache) get(h [sha256.Size]byte, now time.Time) (Principal, bool) {
	if c == nil {
		return Principal{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[h]
	if !ok || !now.Before(e.until) {
		return Principal{}, false
	}
	return e.p, true
}

func (c *keyCache) put(h [sha256.Size]byte, p Principal, now time.Time) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= 4096 { // keys that stopped being used go at the next sweep
		for k, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, k)
			}
		}
	}
	c.m[h] = cachedKey{p: p, until: now.Add(c.ttl)}
}

// forget drops the key keyID (revoked).
func (c *keyCache) forget(keyID int64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.m {
		if e.p.KeyID == keyID {
			delete(c.m, k)
		}
	}
}
