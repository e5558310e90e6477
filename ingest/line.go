package ingest

import (
	"strconv"
)

// Measurement is the InfluxDB measurement readings are written to (DESIGN.md "InfluxDB schema").
const Measurement = "reading"

// Placement is where a sensor is: the tags a reading carries besides its sensor id.
type Placement struct {
	AssetID   string
	AssetKind AssetKind
	GatewayID string
}

// AppendLine appends the reading as one line of InfluxDB line protocol: measurement "reading"; tags asset_id,
// asset_kind, gateway_id, sensor_id (sorted, as InfluxDB prefers); fields temp_c, humidity_pct, door_open, lat,
// lon, battery_pct (those present); the reading's ts in nanoseconds.
func AppendLine(b []byte, r *Reading, p Placement) []byte {
	b = append(b, Measurement...)
	b = append(b, ",asset_id="...)
	b = appendTag(b, p.AssetID)
	b = append(b, ",asset_kind="...)
	b = appendTag(b, string(p.AssetKind))
	b = append(b, ",gateway_id="...)
	b = appendTag(b, p.GatewayID)
	b = append(b, ",sensor_id="...)
	b = appendTag(b, r.SensorID)
	b = append(b, " temp_c="...)
	b = strconv.AppendFloat(b, r.TempC, 'f', -1, 64)
	if r.Has&HasHumidity != 0 {
		b = append(b, ",humidity_pct="...)
		b = strconv.AppendFloat(b, r.HumidityPct, 'f', -1, 64)
	}
	if r.Has&HasDoor != 0 {
		b = append(b, ",door_open="...)
		b = strconv.AppendBool(b, r.DoorOpen)
	}
	if r.Has&HasLat != 0 {
		b = append(b, ",lat="...)
		b = strconv.AppendFloat(b, r.Lat, 'f', -1, 64)
	}
	if r.Has&HasLon != 0 {
		b = append(b, ",lon="...)
		b = strconv.AppendFloat(b, r.Lon, 'f', -1, 64)
	}
	if r.Has&HasBattery != 0 {
		b = append(b, ",battery_pct="...)
		b = strconv.AppendFloat(b, r.BatteryPct, 'f', -1, 64)
	}
	b = append(b, ' ')
	b = strconv.AppendInt(b, r.TS.UnixNano(), 10)
	return append(b, '\n')
}

// appendTag escapes a tag value. Registered ids cannot hold these characters; escaping is the second line of
// defence against a forged line.
func appendTag(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ',', '=', ' ', '\\':
			b = append(b, '\\', c)
		case '\n', '\r':
			b = append(b, ' ')
		default:
			b = append(b, c)
		}
	}
	return b
}
