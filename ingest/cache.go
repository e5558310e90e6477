package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/suilong/suilong/internal/errs"
)

// Registry is where the sensor cache reads sensors from (the Store).
type Registry interface {
	// SensorIndex returns every sensor.
	SensorIndex(ctx context.Context) ([]SensorInfo, error)
	// LookupSensor returns one sensor. Errors: NotFound; anything else means the registry is unreachable.
	LookupSensor(ctx context.Context, id string) (SensorInfo, error)
}

// ProductBands gives the band of a product profile (matching's products), for assets that name one.
type ProductBands interface {
	// ProductBand returns the band of a product; ok is false for an unknown product or one without a band.
	ProductBand(ctx context.Context, product string) (b Band, ok bool, err error)
}

// BandSource tells the band of what an asset carries at a time (from traceability: the lots loaded in it and
// their products' profiles).
type BandSource interface {
	// Band returns the band in force in the asset at `at`; ok is false when nothing with a band is known to be
	// in it, and the asset's own band applies.
	Band(ctx context.Context, assetID string, at time.Time) (b Band, ok bool, err error)
}

// SensorCache answers "which asset and gateway is this sensor?" on the hot path without a database round trip,
// and keeps answering while PostgreSQL is away: it holds the whole registry in memory, refreshes it
// periodically, looks up sensors it has not seen, and keeps a copy on disk so that a restart during an outage
// still knows every sensor.
type SensorCache struct {
	reg      Registry
	products ProductBands
	file     string
	log      *slog.Logger
	// NegativeTTL is how long an unknown sensor stays unknown before the registry is asked again.
	NegativeTTL time.Duration
	Now         func() time.Time

	all atomic.Pointer[map[string]*SensorInfo]

	mu       sync.Mutex
	extra    map[string]*SensorInfo
	unknown  map[string]time.Time
	downTill time.Time
}

// NewSensorCache returns a cache over reg, persisted to file (empty: not persisted). products may be nil.
func NewSensorCache(reg Registry, products ProductBands, file string, log *slog.Logger) *SensorCache {
	if log == nil {
		log = slog.Default()
	}
	c := &SensorCache{reg: reg, products: products, file: file, log: log, NegativeTTL: 30 * time.Second, Now: time.Now,
		extra: map[string]*SensorInfo{}, unknown: map[string]time.Time{}}
	empty := map[string]*SensorInfo{}
	c.all.Store(&empty)
	return c
}

// LoadFile fills the cache from its copy on disk (used at start, before the registry answers).
func (c *SensorCache) LoadFile() (int, error) {
	if c.file == "" {
		return 0, nil
	}
	b, err := os.ReadFile(c.file)
	if os.IsNotExist(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var list []SensorInfo
	if err := json.Unmarshal(b, &list); err != nil {
		return 0, fmt.Errorf("sensor cache file %s: %w", c.file, err)
	}
	c.install(list)
	return len(list), nil
}

func (c *SensorCache) install(list []SensorInfo) {
	m := make(map[string]*SensorInfo, len(list))
	for i := range list {
		m[list[i].SensorID] = &list[i]
	}
	c.all.Store(&m)
	c.mu.Lock()
	c.extra = map[string]*SensorInfo{}
	c.unknown = map[string]time.Time{}
	c.mu.Unlock()
}

// Refresh reloads the whole registry. On failure the cache keeps what it has.
func (c *SensorCache) Refresh(ctx context.Context) error {
	list, err := c.reg.SensorIndex(ctx)
	if err != nil {
		c.markDown()
		return err
	}
	for i := range list {
		c.resolveProduct(ctx, &list[i])
	}
	c.install(list)
	c.mu.Lock()
	c.downTill = time.Time{}
	c.mu.Unlock()
	if c.file != "" {
		if err := writeFileAtomic(c.file, list); err != nil {
			c.log.Warn("ingest: could not save the sensor cache", "file", c.file, "err", err)
		}
	}
	return nil
}

// resolveProduct gives an asset without a band of its own its product profile's band.
func (c *SensorCache) resolveProduct(ctx context.Context, i *SensorInfo) {
	if !i.Band.IsZero() || i.Product == "" || c.products == nil {
		return
	}
	b, ok, err := c.products.ProductBand(ctx, i.Product)
	if err == nil && ok {
		i.Band = b
	}
}

func writeFileAtomic(path string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (c *SensorCache) markDown() {
	c.mu.Lock()
	c.downTill = c.Now().Add(5 * time.Second)
	c.mu.Unlock()
}

// Len returns how many sensors the cache knows.
func (c *SensorCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(*c.all.Load()) + len(c.extra)
}

// Intern returns the cached string for a sensor id, so decoding a known sensor's reading does not allocate.
func (c *SensorCache) Intern(b []byte) string {
	if i, ok := (*c.all.Load())[string(b)]; ok {
		return i.SensorID
	}
	return string(b)
}

// Invalidate forgets one sensor (after it was changed through the API), so the next reading looks it up.
func (c *SensorCache) Invalidate(id string) {
	c.mu.Lock()
	delete(c.extra, id)
	delete(c.unknown, id)
	c.mu.Unlock()
	old := *c.all.Load()
	if _, ok := old[id]; ok {
		m := make(map[string]*SensorInfo, len(old))
		for k, v := range old {
			if k != id {
				m[k] = v
			}
		}
		c.all.Store(&m)
	}
}

// Lookup returns a sensor's placement, or the reason it has none: ReasonUnknownSensor, or ReasonRegistryDown
// when the sensor is not cached and PostgreSQL cannot be asked.
func (c *SensorCache) Lookup(ctx context.Context, id string) (*SensorInfo, Reason) {
	if i, ok := (*c.all.Load())[id]; ok {
		return i, ""
	}
	c.mu.Lock()
	if i, ok := c.extra[id]; ok {
		c.mu.Unlock()
		return i, ""
	}
	now := c.Now()
	if until, ok := c.unknown[id]; ok && now.Before(until) {
		c.mu.Unlock()
		return nil, ReasonUnknownSensor
	}
	if now.Before(c.downTill) {
		c.mu.Unlock()
		return nil, ReasonRegistryDown
	}
	c.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := c.reg.LookupSensor(ctx, id)
	switch {
	case err == nil:
		c.resolveProduct(ctx, &info)
		c.mu.Lock()
		c.extra[id] = &info
		c.mu.Unlock()
		return &info, ""
	case errs.CodeOf(err) == errs.NotFound:
		c.mu.Lock()
		if len(c.unknown) > 100000 { // a flood of made-up ids must not grow memory without bound
			c.unknown = map[string]time.Time{}
		}
		c.unknown[id] = now.Add(c.NegativeTTL)
		c.mu.Unlock()
		return nil, ReasonUnknownSensor
	default:
		c.markDown()
		return nil, ReasonRegistryDown
	}
}

// BandResolver gives the band that applies to a sensor's reading: what its asset carries at that time when
// traceability knows it, else the asset's own band (or its product profile's). Answers from the BandSource are
// cached per asset and ten-minute slot, so the hot path rarely leaves memory.
type BandResolver struct {
	src BandSource
	log *slog.Logger
	Now func() time.Time

	mu    sync.RWMutex
	cache map[bandKey]bandEntry
}

type bandKey struct {
	asset string
	slot  int64
}

type bandEntry struct {
	band    Band
	ok      bool
	expires time.Time
}

const bandSlot = 10 * time.Minute

// NewBandResolver returns a resolver; src may be nil (assets' own bands only).
func NewBandResolver(src BandSource, log *slog.Logger) *BandResolver {
	if log == nil {
		log = slog.Default()
	}
	return &BandResolver{src: src, log: log, Now: time.Now, cache: map[bandKey]bandEntry{}}
}

// Band returns the band for a reading of the sensor at time at.
func (r *BandResolver) Band(ctx context.Context, info *SensorInfo, at time.Time) Band {
	if r == nil || r.src == nil {
		return info.Band
	}
	k := bandKey{info.AssetID, at.UnixNano() / int64(bandSlot)}
	now := r.Now()
	r.mu.RLock()
	e, hit := r.cache[k]
	r.mu.RUnlock()
	if hit && now.Before(e.expires) {
		if e.ok {
			return e.band
		}
		return info.Band
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	b, ok, err := r.src.Band(ctx, info.AssetID, at)
	ttl := time.Minute
	if err != nil {
		r.log.Warn("ingest: band of what the asset carries is unknown; using its own", "asset", info.AssetID, "err", err)
		ok, ttl = false, 15*time.Second
	}
	r.mu.Lock()
	if len(r.cache) > 50000 {
		for key, v := range r.cache {
			if now.After(v.expires) {
				delete(r.cache, key)
			}
		}
	}
	r.cache[k] = bandEntry{band: b, ok: ok, expires: now.Add(ttl)}
	r.mu.Unlock()
	if ok {
		return b
	}
	return info.Band
}
