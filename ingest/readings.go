package ingest

import (
	"context"
	"time"

	"github.com/suilong/suilong/internal/coldchain"
	"github.com/suilong/suilong/internal/errs"
)

// Readings is what ingest reads back of the stored readings (InfluxDB, through ingest/influxw). Every range
// is [from, to).
type Readings interface {
	// SeriesOf returns the asset's temperature (all its sensors, or one: f) downsampled to windows of every
	// (aligned to the Unix epoch), with min, mean, max and count; windows without readings are left out, an
	// empty range has none. Errors: Internal.
	SeriesOf(ctx context.Context, assetID string, f SeriesFilter, from, to time.Time, every time.Duration) ([]coldchain.Window, error)
	// SeriesIn is SeriesOf over the spans only (sorted, apart, each with a To). Errors: Internal.
	SeriesIn(ctx context.Context, assetID string, f SeriesFilter, spans []Span, every time.Duration) ([]coldchain.Window, error)
	// Samples calls fn for every reading with a temperature, all sensors. Errors: Internal.
	Samples(ctx context.Context, from, to time.Time, fn func(RawSample)) error
	// Count returns how many readings are stored, of one asset or ("") of all. Errors: Internal.
	Count(ctx context.Context, assetID string, from, to time.Time) (int64, error)
}

// SeriesFilter narrows a series to one sensor of the asset.
type SeriesFilter struct {
	SensorID string
}

// RawSample is one stored reading as the rules see it.
type RawSample struct {
	SensorID string
	AssetID  string
	TS       time.Time
	TempC    float64
	Door     *bool
}

// MaxWindows bounds how many windows one series request may ask for.
const MaxWindows = 10000

// checkSeries is the rule for a series request: a range that is not empty, windows of at least a second, at
// most MaxWindows of them. Errors: Unprocessable naming to or every.
func checkSeries(from, to time.Time, every time.Duration) error {
	var fe errs.FieldErrors
	if !to.After(from) {
		fe.Add("to", "must be after from")
	}
	if every < time.Second {
		fe.Add("every", "must be at least 1s")
	} else if to.Sub(from)/every > MaxWindows {
		fe.Add("every", "too small for the range: at most %d windows", MaxWindows)
	}
	return fe.Err()
}
