package ingest

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// BenchmarkStages measures the CPU each reading costs in ingest's own stages, for the capacity model of
// docs/scale.md: decoding and validating a message (one reading, or a batch of 50), and encoding a reading as
// line protocol. The rules are BenchmarkObserveInOrder (ingest/rules); the broker, InfluxDB and the whole
// process are measured by BenchmarkIngest (ingest/bench). Each reports ns per reading.
func BenchmarkStages(b *testing.B) {
	now := time.Now().UTC()
	reading := func(i int) string {
		return fmt.Sprintf(`{"sensor_id":"LY-TRK-0001-%c","ts":%q,"temp_c":3.4,"humidity_pct":88.5,"door_open":false,"lat":25.08,"lon":117.01,"battery_pct":91,"seq":%d}`,
			'A'+i%4, now.Add(-time.Duration(i)*time.Second).Format(time.RFC3339Nano), i)
	}
	single := []byte(reading(0))
	parts := make([]string, 50)
	for i := range parts {
		parts[i] = reading(i)
	}
	batch := []byte(`{"readings":[` + strings.Join(parts, ",") + `]}`)
	ids := map[string]string{}
	dec := Decoder{Intern: func(b []byte) string {
		if s, ok := ids[string(b)]; ok {
			return s
		}
		s := string(b)
		ids[s] = s
		return s
	}}
	var lim Limits
	for _, c := range []struct {
		name    string
		payload []byte
		n       int
	}{{"decode+validate/single", single, 1}, {"decode+validate/batch-50", batch, 50}} {
		b.Run(c.name, func(b *testing.B) {
			var rs []Reading
			var rej []Rejection
			for b.Loop() {
				rs, rej = dec.Decode(c.payload, rs[:0], rej[:0])
				for k := range rs {
					if _, ok := lim.Validate(&rs[k], now); !ok {
						b.Fatal("a valid reading was rejected")
					}
				}
				if len(rs) != c.n || len(rej) != 0 {
					b.Fatalf("%d readings, %d rejections", len(rs), len(rej))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*c.n), "ns/reading")
		})
	}
	b.Run("line", func(b *testing.B) {
		rs, _ := dec.Decode(single, nil, nil)
		p := Placement{AssetID: "LY-TRK-0001", AssetKind: "truck", GatewayID: "LY-GW-0001"}
		var buf []byte
		for b.Loop() {
			buf = AppendLine(buf[:0], &rs[0], p)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/reading")
	})
}
