package ingest

import (
	"strconv"
	"time"
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

// LineReading is a reading read back from a line AppendLine wrote: what a dead letter needs when InfluxDB
// refuses the line after it left its message (in a batch, or from the spool).
type LineReading struct {
	Placement
	SensorID string
	TS       int64 // nanoseconds
	// JSON is the reading as a reading object of the MQTT contract, with every field the line carries.
	JSON []byte
}

// ParseLine reads a line of AppendLine's format back. ok is false for anything else.
func ParseLine(line []byte) (LineReading, bool) {
	var out LineReading
	for len(line) > 0 && (line[len(line)-1] == '\n' || line[len(line)-1] == '\r') {
		line = line[:len(line)-1]
	}
	// measurement,tags fields ts — split at unescaped spaces.
	parts := splitUnescaped(line, ' ', 3)
	if len(parts) != 3 {
		return out, false
	}
	keys := splitUnescaped(parts[0], ',', -1)
	if len(keys) == 0 || string(keys[0]) != Measurement {
		return out, false
	}
	for _, kv := range keys[1:] {
		k, v, ok := cutUnescaped(kv, '=')
		if !ok {
			return out, false
		}
		val := unescapeTag(v)
		switch string(k) {
		case "asset_id":
			out.AssetID = val
		case "asset_kind":
			out.AssetKind = AssetKind(val)
		case "gateway_id":
			out.GatewayID = val
		case "sensor_id":
			out.SensorID = val
		}
	}
	ts, err := strconv.ParseInt(string(parts[2]), 10, 64)
	if err != nil || out.SensorID == "" {
		return out, false
	}
	out.TS = ts
	b := append([]byte(`{"sensor_id":`), strconv.Quote(out.SensorID)...)
	b = append(b, `,"ts":`...)
	b = strconv.AppendQuote(b, time.Unix(0, ts).UTC().Format(time.RFC3339Nano))
	for _, kv := range splitUnescaped(parts[1], ',', -1) {
		k, v, ok := cutUnescaped(kv, '=')
		if !ok || len(k) == 0 || len(v) == 0 {
			return out, false
		}
		b = append(b, ',')
		b = strconv.AppendQuote(b, string(k))
		b = append(b, ':')
		switch {
		case string(v) == "true" || string(v) == "false":
			b = append(b, v...)
		case v[0] == '"':
			b = append(b, v...) // a string field: not ours, but keep what the line said
		default:
			if _, err := strconv.ParseFloat(string(v), 64); err != nil {
				return out, false
			}
			b = append(b, v...)
		}
	}
	out.JSON = append(b, '}')
	return out, true
}

func splitUnescaped(b []byte, sep byte, n int) [][]byte {
	var out [][]byte
	start := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case sep:
			if n > 0 && len(out) == n-1 {
				continue
			}
			out = append(out, b[start:i])
			start = i + 1
		}
	}
	return append(out, b[start:])
}

func cutUnescaped(b []byte, sep byte) (before, after []byte, ok bool) {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case sep:
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}

func unescapeTag(b []byte) string {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '\\' && i+1 < len(b) {
			i++
		}
		out = append(out, b[i])
	}
	return string(out)
}
