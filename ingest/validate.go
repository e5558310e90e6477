package ingest

import (
	"fmt"
	"time"
)

// Value ranges a reading must respect (DESIGN.md "MQTT contract").
const (
	MinTempC = -60.0
	MaxTempC = 60.0
)

// Limits bound the timestamps Validate accepts.
type Limits struct {
	// MaxFuture is how far ahead of the platform's clock a ts may be (gateway clock skew); default 5 minutes.
	MaxFuture time.Duration
	// MaxAge is how old a ts may be (a gateway catching up after days offline); default 7 days.
	MaxAge time.Duration
}

// Default timestamp limits.
const (
	DefaultMaxFuture = 5 * time.Minute
	DefaultMaxAge    = 7 * 24 * time.Hour
)

func (l Limits) withDefaults() Limits {
	if l.MaxFuture <= 0 {
		l.MaxFuture = DefaultMaxFuture
	}
	if l.MaxAge <= 0 {
		l.MaxAge = DefaultMaxAge
	}
	return l
}

type rng struct {
	f        Field
	name     string
	min, max float64
}

var ranges = []rng{
	{HasTemp, "temp_c", MinTempC, MaxTempC},
	{HasHumidity, "humidity_pct", 0, 100},
	{HasLat, "lat", -90, 90},
	{HasLon, "lon", -180, 180},
	{HasBattery, "battery_pct", 0, 100},
}

func (r *Reading) value(f Field) float64 {
	switch f {
	case HasTemp:
		return r.TempC
	case HasHumidity:
		return r.HumidityPct
	case HasLat:
		return r.Lat
	case HasLon:
		return r.Lon
	default:
		return r.BatteryPct
	}
}

// Validate checks the values of a decoded reading against the contract: required fields, finite numbers in
// range, a timestamp neither too far in the future nor too old. It returns the rejection and false when the
// reading must go to the dead letter. Whether the sensor exists and belongs to the gateway is the registry's
// question, asked after this one.
func (l Limits) Validate(r *Reading, now time.Time) (Rejection, bool) {
	l = l.withDefaults()
	reject := func(reason Reason, field, detail string) (Rejection, bool) {
		return Rejection{Index: r.Index, Reason: reason, Field: field, Detail: detail, SensorID: r.SensorID, Raw: r.raw}, false
	}
	switch {
	case r.Has&HasSensorID == 0:
		return reject(ReasonMissingField, "sensor_id", "sensor_id is required")
	case r.Has&HasTS == 0:
		return reject(ReasonMissingField, "ts", "ts is required")
	case r.Has&HasTemp == 0:
		return reject(ReasonMissingField, "temp_c", "temp_c is required")
	}
	if r.nonFinite != 0 {
		for _, g := range ranges {
			if r.nonFinite&g.f != 0 {
				return reject(ReasonNaN, g.name, g.name+" is NaN or infinite")
			}
		}
	}
	for _, g := range ranges {
		if r.Has&g.f == 0 {
			continue
		}
		// Written so that NaN, which compares false with everything, is caught too.
		if v := r.value(g.f); !(v >= g.min && v <= g.max) {
			return reject(ReasonOutOfRange, g.name, fmt.Sprintf("%s %g outside [%g, %g]", g.name, v, g.min, g.max))
		}
	}
	if d := r.TS.Sub(now); d > l.MaxFuture {
		return reject(ReasonTSFuture, "ts", fmt.Sprintf("ts is %s ahead of the platform clock (limit %s)", d.Round(time.Second), l.MaxFuture))
	}
	if d := now.Sub(r.TS); d > l.MaxAge {
		return reject(ReasonTSTooOld, "ts", fmt.Sprintf("ts is %s old (limit %s)", d.Round(time.Second), l.MaxAge))
	}
	return Rejection{}, true
}
