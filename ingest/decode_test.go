package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func TestDecodeForms(t *testing.T) {
	ts := time.Date(2026, 11, 24, 10, 0, 0, 123e6, time.UTC)
	tests := []struct {
		name     string
		payload  string
		readings []Reading // compared on SensorID, TS, TempC, Has, Index and the optional values present
		rejects  []Rejection
	}{
		{
			name: "single reading with every field",
			payload: `{"sensor_id":"LY-TRK-0001-A","ts":"2026-11-24T10:00:00.123Z","temp_c":3.4,
				"humidity_pct":88.1,"door_open":false,"lat":25.075,"lon":117.017,"battery_pct":91,"seq":1234}`,
			readings: []Reading{{SensorID: "LY-TRK-0001-A", TS: ts, TempC: 3.4, HumidityPct: 88.1, Lat: 25.075, Lon: 117.017,
				BatteryPct: 91, Seq: 1234, Has: HasSensorID | HasTS | HasTemp | HasHumidity | HasDoor | HasLat | HasLon | HasBattery | HasSeq}},
		},
		{
			name:     "epoch milliseconds",
			payload:  `{"sensor_id":"s1","ts":1795514400123,"temp_c":-18.5}`,
			readings: []Reading{{SensorID: "s1", TS: time.UnixMilli(1795514400123), TempC: -18.5, Has: HasSensorID | HasTS | HasTemp}},
		},
		{
			name:     "RFC 3339 with an offset",
			payload:  `{"sensor_id":"s1","ts":"2026-11-24T18:00:00.123+08:00","temp_c":2}`,
			readings: []Reading{{SensorID: "s1", TS: ts, TempC: 2, Has: HasSensorID | HasTS | HasTemp}},
		},
		{
			name:     "unknown fields and nested values are ignored, null optional fields are absent",
			payload:  `{"fw":{"v":[1,{"x":"}"}]},"sensor_id":"s1","ts":1795514400123,"temp_c":1,"humidity_pct":null,"door_open":null}`,
			readings: []Reading{{SensorID: "s1", TS: time.UnixMilli(1795514400123), TempC: 1, Has: HasSensorID | HasTS | HasTemp}},
		},
		{
			name:     "escaped sensor id",
			payload:  `{"sensor_id":"s\u0031","ts":1795514400123,"temp_c":1}`,
			readings: []Reading{{SensorID: "s1", TS: time.UnixMilli(1795514400123), TempC: 1, Has: HasSensorID | HasTS | HasTemp}},
		},
		{
			name: "batch: a bad reading does not reject its neighbours",
			payload: `{"gateway_id":"gw","readings":[
				{"sensor_id":"a","ts":1795514400000,"temp_c":1},
				{"sensor_id":"b","ts":"yesterday","temp_c":2},
				7,
				{"sensor_id":"c","ts":1795514400000,"temp_c":"warm"},
				{"sensor_id":"d","ts":1795514400000,"temp_c":NaN},
				{"sensor_id":"e","ts":1795514400000,"temp_c":4}]}`,
			readings: []Reading{
				{SensorID: "a", TS: time.UnixMilli(1795514400000), TempC: 1, Has: HasSensorID | HasTS | HasTemp},
				{SensorID: "d", TS: time.UnixMilli(1795514400000), TempC: math.NaN(), Has: HasSensorID | HasTS | HasTemp, Index: 4},
				{SensorID: "e", TS: time.UnixMilli(1795514400000), TempC: 4, Has: HasSensorID | HasTS | HasTemp, Index: 5},
			},
			rejects: []Rejection{
				{Index: 1, Reason: ReasonInvalidField, Field: "ts", SensorID: "b"},
				{Index: 2, Reason: ReasonInvalidField, Field: "readings[2]"},
				{Index: 3, Reason: ReasonInvalidField, Field: "temp_c", SensorID: "c"},
			},
		},
		{name: "not JSON", payload: `{"sensor_id":"s1",`, rejects: []Rejection{{Index: -1, Reason: ReasonMalformedJSON}}},
		{name: "garbage", payload: "\x00\x01binary", rejects: []Rejection{{Index: -1, Reason: ReasonMalformedJSON}}},
		{name: "empty payload", payload: "", rejects: []Rejection{{Index: -1, Reason: ReasonMalformedJSON}}},
		{name: "array at top level", payload: `[{"sensor_id":"s1"}]`, rejects: []Rejection{{Index: -1, Reason: ReasonMalformedJSON}}},
		{name: "trailing data", payload: `{"sensor_id":"s1","ts":1,"temp_c":1} x`, rejects: []Rejection{{Index: -1, Reason: ReasonMalformedJSON}}},
		{name: "readings not an array", payload: `{"readings":{"sensor_id":"s1"}}`, rejects: []Rejection{{Index: -1, Reason: ReasonInvalidField}}},
		{name: "empty batch", payload: `{"readings":[]}`, rejects: []Rejection{{Index: -1, Reason: ReasonEmptyBatch}}},
		{name: "batch too large", payload: batchOf(MaxBatch + 1), rejects: []Rejection{{Index: -1, Reason: ReasonBatchTooLarge}}},
		{name: "oversized", payload: `{"sensor_id":"` + strings.Repeat("x", DefaultMaxPayload) + `"}`, rejects: []Rejection{{Index: -1, Reason: ReasonOversized}}},
		{name: "sensor id with a slash", payload: `{"sensor_id":"a/b","ts":1,"temp_c":1}`,
			rejects: []Rejection{{Index: 0, Reason: ReasonInvalidField, Field: "sensor_id"}}},
		{name: "seq negative", payload: `{"sensor_id":"s","ts":1,"temp_c":1,"seq":-1}`,
			rejects: []Rejection{{Index: 0, Reason: ReasonInvalidField, Field: "seq", SensorID: "s"}}},
		{name: "door as string", payload: `{"sensor_id":"s","ts":1,"temp_c":1,"door_open":"yes"}`,
			rejects: []Rejection{{Index: 0, Reason: ReasonInvalidField, Field: "door_open", SensorID: "s"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decoder
			got, rej := d.Decode([]byte(tt.payload), nil, nil)
			if len(got) != len(tt.readings) {
				t.Fatalf("got %d readings, want %d (rejections %+v)", len(got), len(tt.readings), rej)
			}
			for i, w := range tt.readings {
				g := got[i]
				if g.SensorID != w.SensorID || !g.TS.Equal(w.TS) || !sameFloat(g.TempC, w.TempC) || g.Has != w.Has || g.Index != w.Index ||
					g.HumidityPct != w.HumidityPct || g.Lat != w.Lat || g.Lon != w.Lon || g.BatteryPct != w.BatteryPct || g.Seq != w.Seq || g.DoorOpen != w.DoorOpen {
					t.Errorf("reading %d = %+v, want %+v", i, g, w)
				}
				if len(g.raw) == 0 {
					t.Errorf("reading %d lost its raw JSON", i)
				}
			}
			if len(rej) != len(tt.rejects) {
				t.Fatalf("got rejections %+v, want %+v", rej, tt.rejects)
			}
			for i, w := range tt.rejects {
				g := rej[i]
				if g.Index != w.Index || g.Reason != w.Reason || (w.Field != "" && g.Field != w.Field) || g.SensorID != w.SensorID {
					t.Errorf("rejection %d = %+v, want %+v", i, g, w)
				}
				if g.Detail == "" && g.Reason != ReasonEmptyBatch {
					t.Errorf("rejection %d has no detail", i)
				}
				if (len(g.Raw) == 0 && tt.payload != "") || len(g.Raw) > rawExcerpt {
					t.Errorf("rejection %d raw excerpt has %d bytes", i, len(g.Raw))
				}
			}
		})
	}
}

func sameFloat(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

func batchOf(n int) string {
	var b strings.Builder
	b.WriteString(`{"readings":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"sensor_id":"s%d","ts":%d,"temp_c":3.5}`, i%20, 1795514400000+int64(i))
	}
	b.WriteString(`]}`)
	return b.String()
}

func TestDecodeFullBatch(t *testing.T) {
	var d Decoder
	got, rej := d.Decode([]byte(batchOf(MaxBatch)), nil, nil)
	if len(got) != MaxBatch || len(rej) != 0 {
		t.Fatalf("500-reading batch: %d readings, %d rejections", len(got), len(rej))
	}
	if got[499].Index != 499 || got[499].TS.UnixMilli() != 1795514400499 {
		t.Errorf("last reading = %+v", got[499])
	}
}

func TestDecodeIntern(t *testing.T) {
	known := "LY-TRK-0001-A"
	d := Decoder{Intern: func(b []byte) string {
		if string(b) == known {
			return known
		}
		return string(b)
	}}
	payload := []byte(`{"sensor_id":"LY-TRK-0001-A","ts":1795514400000,"temp_c":1}`)
	allocs := testing.AllocsPerRun(100, func() {
		out := make([]Reading, 0, 1)
		_, _ = d.Decode(payload, out, nil)
	})
	// The only allocation left is the output slice itself.
	if allocs > 1 {
		t.Errorf("decoding a known sensor's reading allocates %.0f times", allocs)
	}
}

func TestValidate(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	base := `"sensor_id":"s1","ts":"2026-11-24T09:59:00Z"`
	tests := []struct {
		name    string
		payload string
		reason  Reason
		field   string
	}{
		{"valid", `{` + base + `,"temp_c":3.4,"humidity_pct":100,"lat":-90,"lon":180,"battery_pct":0}`, "", ""},
		{"missing sensor", `{"ts":1,"temp_c":3}`, ReasonMissingField, "sensor_id"},
		{"null sensor", `{"sensor_id":null,"ts":1,"temp_c":3}`, ReasonMissingField, "sensor_id"},
		{"missing ts", `{"sensor_id":"s1","temp_c":3}`, ReasonMissingField, "ts"},
		{"missing temp", `{` + base + `}`, ReasonMissingField, "temp_c"},
		{"null temp", `{` + base + `,"temp_c":null}`, ReasonMissingField, "temp_c"},
		{"NaN token", `{` + base + `,"temp_c":NaN}`, ReasonNaN, "temp_c"},
		{"NaN string", `{` + base + `,"temp_c":"NaN"}`, ReasonNaN, "temp_c"},
		{"negative infinity", `{` + base + `,"temp_c":1,"humidity_pct":-Infinity}`, ReasonNaN, "humidity_pct"},
		{"too hot", `{` + base + `,"temp_c":60.01}`, ReasonOutOfRange, "temp_c"},
		{"too cold", `{` + base + `,"temp_c":-60.5}`, ReasonOutOfRange, "temp_c"},
		{"edge of range", `{` + base + `,"temp_c":-60}`, "", ""},
		{"huge literal", `{` + base + `,"temp_c":1e400}`, ReasonOutOfRange, "temp_c"},
		{"humidity over 100", `{` + base + `,"temp_c":1,"humidity_pct":100.1}`, ReasonOutOfRange, "humidity_pct"},
		{"latitude", `{` + base + `,"temp_c":1,"lat":91}`, ReasonOutOfRange, "lat"},
		{"battery", `{` + base + `,"temp_c":1,"battery_pct":-1}`, ReasonOutOfRange, "battery_pct"},
		{"future within skew", `{"sensor_id":"s1","ts":"2026-11-24T10:04:59Z","temp_c":1}`, "", ""},
		{"future", `{"sensor_id":"s1","ts":"2026-11-24T10:05:01Z","temp_c":1}`, ReasonTSFuture, "ts"},
		{"too old", `{"sensor_id":"s1","ts":"2026-11-17T09:59:59Z","temp_c":1}`, ReasonTSTooOld, "ts"},
		{"old but accepted", `{"sensor_id":"s1","ts":"2026-11-17T10:00:01Z","temp_c":1}`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decoder
			got, rej := d.Decode([]byte(tt.payload), nil, nil)
			if len(rej) != 0 || len(got) != 1 {
				t.Fatalf("decode: %+v %+v", got, rej)
			}
			r, ok := Limits{}.Validate(&got[0], now)
			if tt.reason == "" {
				if !ok {
					t.Fatalf("rejected: %+v", r)
				}
				return
			}
			if ok || r.Reason != tt.reason || r.Field != tt.field || r.Detail == "" {
				t.Fatalf("got %+v ok=%v, want %s on %s", r, ok, tt.reason, tt.field)
			}
		})
	}
}

func TestAppendLine(t *testing.T) {
	var d Decoder
	got, _ := d.Decode([]byte(`{"sensor_id":"LY-TRK-0001-A","ts":"2026-11-24T10:00:00.123Z","temp_c":3.4,
		"humidity_pct":88.1,"door_open":false,"lat":25.075,"lon":117.017,"battery_pct":91,"seq":1234}`), nil, nil)
	line := AppendLine(nil, &got[0], Placement{AssetID: "LY-TRK-0001", AssetKind: KindTruck, GatewayID: "LY-GW-0001"})
	want := "reading,asset_id=LY-TRK-0001,asset_kind=truck,gateway_id=LY-GW-0001,sensor_id=LY-TRK-0001-A " +
		"temp_c=3.4,humidity_pct=88.1,door_open=false,lat=25.075,lon=117.017,battery_pct=91 1795514400123000000\n"
	if string(line) != want {
		t.Errorf("line\n got %q\nwant %q", line, want)
	}
	got, _ = d.Decode([]byte(`{"sensor_id":"s","ts":1795514400000,"temp_c":-18}`), nil, nil)
	line = AppendLine(nil, &got[0], Placement{AssetID: "a b,c", AssetKind: KindColdStore, GatewayID: "g=1"})
	want = "reading,asset_id=a\\ b\\,c,asset_kind=cold_store,gateway_id=g\\=1,sensor_id=s temp_c=-18 1795514400000000000\n"
	if string(line) != want {
		t.Errorf("escaped line\n got %q\nwant %q", line, want)
	}
}

// FuzzDecode checks the decoder against encoding/json: it never panics, it calls malformed exactly what
// encoding/json calls invalid (apart from the NaN/Infinity tokens it accepts on purpose), and the readings it
// returns carry the values encoding/json sees.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"sensor_id":"LY-TRK-0001-A","ts":"2026-11-24T10:00:00.123Z","temp_c":3.4,"humidity_pct":88.1,"door_open":false,"lat":25.075,"lon":117.017,"battery_pct":91,"seq":1234}`))
	f.Add([]byte(batchOf(3)))
	f.Add([]byte(`{"readings":[{"sensor_id":"a","ts":1,"temp_c":NaN},7,{"sensor_id":"\ud83d\ude00","ts":"x","temp_c":1e400}]}`))
	f.Add([]byte(`{"sensor_id":"s\u00e9","ts":-1,"temp_c":"-Infinity","x":[[[{}]]]}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		var d Decoder
		got, rej := d.Decode(payload, nil, nil)
		malformed := false
		for _, r := range rej {
			if r.Index == -1 && len(rej) != 1 {
				t.Fatalf("whole-message rejection among others: %+v", rej)
			}
			if r.Reason == ReasonMalformedJSON {
				malformed = true
			}
			if r.Reason == "" {
				t.Fatalf("rejection without a reason: %+v", r)
			}
		}
		for _, r := range got {
			if r.Has&HasSensorID != 0 && checkID([]byte(r.SensorID)) != "" {
				t.Fatalf("accepted bad sensor id %q", r.SensorID)
			}
			if r.Index < 0 || r.Index >= MaxBatch {
				t.Fatalf("index %d", r.Index)
			}
		}
		if len(payload) > DefaultMaxPayload {
			return
		}
		valid := json.Valid(payload)
		trimmed := bytes.TrimLeft(payload, " \t\r\n")
		isObject := len(trimmed) > 0 && trimmed[0] == '{'
		hasNonFinite := bytes.Contains(payload, []byte("NaN")) || bytes.Contains(payload, []byte("Infinity"))
		if valid && isObject && malformed {
			t.Fatalf("valid JSON object called malformed: %+v", rej)
		}
		if !valid && !malformed && !hasNonFinite && !(len(rej) == 1 && rej[0].Reason == ReasonBatchTooLarge) {
			t.Fatalf("invalid JSON accepted: readings %+v rejections %+v", got, rej)
		}
		if !valid || !isObject {
			return
		}
		// Compare what we decoded with encoding/json's view of the same document.
		var doc map[string]json.RawMessage
		if err := json.Unmarshal(payload, &doc); err != nil {
			t.Fatalf("encoding/json: %v", err)
		}
		var elems []json.RawMessage
		if raw, ok := doc["readings"]; ok {
			if json.Unmarshal(raw, &elems) != nil {
				return
			}
		} else {
			elems = []json.RawMessage{payload}
		}
		for _, r := range got {
			var fields map[string]any
			if err := json.Unmarshal(elems[r.Index], &fields); err != nil {
				var ute *json.UnmarshalTypeError
				if errors.As(err, &ute) && strings.HasPrefix(ute.Value, "number") {
					continue // a literal beyond float64, which encoding/json refuses and we call out of range
				}
				t.Fatalf("reading %d: encoding/json: %v", r.Index, err)
			}
			if r.Has&HasSensorID != 0 && fields["sensor_id"] != r.SensorID {
				t.Fatalf("sensor_id %q, encoding/json sees %q", r.SensorID, fields["sensor_id"])
			}
			if v, ok := fields["temp_c"].(float64); ok && r.Has&HasTemp != 0 && v != r.TempC {
				t.Fatalf("temp_c %v, encoding/json sees %v", r.TempC, v)
			}
			if v, ok := fields["ts"].(string); ok && r.Has&HasTS != 0 {
				if want, err := time.Parse(time.RFC3339Nano, v); err == nil && !want.Equal(r.TS) {
					t.Fatalf("ts %v, want %v", r.TS, want)
				}
			}
		}
	})
}
