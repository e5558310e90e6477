package trace

import (
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// reportCache keeps the reports of delivered lots in memory, by lot id, each with the lot's revision when it
// was built: a public page viewed a thousand times a second (a QR code on a crate in a supermarket) costs one
// read of the revision per view. Reports are dropped after VerifyEvery so that a lost notice of late readings
// is found by the summaries' own check; least recently viewed ones go first when it is full.
type reportCache struct {
	lru *lru.Cache[int64, cachedReport]
}

type cachedReport struct {
	revision int64
	at       time.Time
	report   *Report
}

func newReportCache(size int) *reportCache {
	c, err := lru.New[int64, cachedReport](size)
	if err != nil {
		panic(err) // only for a size below 1
	}
	return &reportCache{lru: c}
}

// get returns the lot's report if one of this revision, younger than ttl, is kept; the caller must not change it.
func (c *reportCache) get(id, revision int64, now time.Time, ttl time.Duration) *Report {
	e, ok := c.lru.Get(id)
	if !ok || e.revision != revision || now.Sub(e.at) >= ttl {
		return nil
	}
	return e.report
}

func (c *reportCache) put(id, revision int64, r *Report, now time.Time) {
	c.lru.Add(id, cachedReport{revision: revision, at: now, report: r})
}
