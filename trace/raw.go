package trace

import (
	"context"
	"time"
)

// Reading is one reading of one sensor, at the resolution it was taken.
type Reading struct {
	At       time.Time `json:"t"`
	SensorID string    `json:"-"` // internal: the record numbers an asset's sensors instead
	TempC    float64   `json:"temp_c"`
}

// RawReadings gives every reading of an asset, for the lot's compliance record.
type RawReadings interface {
	// Raw returns up to limit readings of all the asset's sensors in [from, to), by time then sensor, and
	// whether there were more. Errors: Internal.
	Raw(ctx context.Context, assetID string, from, to time.Time, limit int) (readings []Reading, more bool, err error)
}
