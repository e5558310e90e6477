package traceapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/traceapi"
	"github.com/suilong/suilong/ingest/influxw"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/influx"
	"github.com/suilong/suilong/internal/influx/influxtest"
	"github.com/suilong/suilong/internal/pg/pgtest"
	"github.com/suilong/suilong/trace"
)

type oneProduct struct{}

func (oneProduct) Product(context.Context, string) (trace.ProductInfo, error) {
	lo, hi := 0.0, 4.0
	return trace.ProductInfo{Name: "choy-sum", NameZH: "菜心", Band: trace.Band{MinC: &lo, MaxC: &hi}}, nil
}

type oneAsset struct{}

func (oneAsset) Asset(_ context.Context, id string) (trace.AssetInfo, error) {
	if id != "BENCH-TRK" {
		return trace.AssetInfo{}, errs.E(errs.NotFound, "asset not found")
	}
	return trace.AssetInfo{ID: id, Kind: trace.Truck, Name: "龙岩冷藏车 Bench", City: "龙岩"}, nil
}

// BenchmarkPublicPage measures /t/{code} for a lot that spent 30 days in one truck with 4 sensors reading once a
// minute (172,800 readings, one excursion a day), against a raw Flux query of the same readings in the same
// run. It reports the first (uncached) view, then p50 and p95 of the server time over 40 views, and p50 and p95
// of 15 raw queries.
func BenchmarkPublicPage(b *testing.B) {
	benchOnce.Do(func() { benchRes, benchErr = setupAndMeasure(b) })
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	for b.Loop() {
		w := httptest.NewRecorder()
		benchRes.engine.ServeHTTP(w, httptest.NewRequest("GET", "/t/"+benchRes.code, nil))
		if w.Code != 200 {
			b.Fatalf("page: %d", w.Code)
		}
	}
	r := benchRes
	b.ReportMetric(ms(r.cold), "cold-ms")
	b.ReportMetric(ms(pct(r.page, 50)), "page-p50-ms")
	b.ReportMetric(ms(pct(r.page, 95)), "page-p95-ms")
	b.ReportMetric(ms(pct(r.raw, 50)), "rawflux-p50-ms")
	b.ReportMetric(ms(pct(r.raw, 95)), "rawflux-p95-ms")
	b.ReportMetric(float64(r.points), "readings")
}

type benchResult struct {
	engine    *gin.Engine
	code      string
	cold      time.Duration
	page, raw []time.Duration
	points    int
}

var (
	benchOnce sync.Once
	benchRes  *benchResult
	benchErr  error
)

func setupAndMeasure(b *testing.B) (*benchResult, error) {
	ctx := context.Background()
	db := pgtest.New(b)
	ic := influxtest.New(b)
	from := time.Now().Add(-31 * 24 * time.Hour).Truncate(time.Hour)
	to := from.Add(30 * 24 * time.Hour)
	points, err := writeMonth(ctx, ic, from, to)
	if err != nil {
		return nil, err
	}
	o, _ := authtest.Org(b, db, "bench base", auth.RoleBase)
	p := auth.Principal{OrgID: o.ID, OrgName: o.Name, Role: o.Role}
	svc := trace.NewService(trace.NewStore(db), oneProduct{}, oneAsset{}, nil, influxw.NewStore(ic), trace.NewURIs("http://127.0.0.1"), nil, nil)
	svc.Now = time.Now
	lot, err := svc.CreateLot(ctx, p, trace.NewLot{Product: "choy-sum", QuantityKg: 1000, BaseName: "bench", County: "上杭县", HarvestedAt: from.Add(-time.Hour)})
	if err != nil {
		return nil, err
	}
	if _, err := svc.AddEvent(ctx, p, lot.ID, trace.NewEvent{Kind: trace.Load, At: from, AssetID: "BENCH-TRK"}); err != nil {
		return nil, err
	}
	// Through the store: the service would assess the delivered lot in the background and warm the cache.
	if _, _, err := svc.Store.AddEvent(ctx, trace.Event{LotID: lot.ID, Kind: trace.Receive, At: to, Location: "广州", RecordedBy: p.OrgID}, trace.Band{}); err != nil {
		return nil, err
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	traceapi.New(traceapi.Deps{Service: svc, PublicRate: 1e6, PublicBurst: 1e6}).Routes(e.Group("/api/v1"), e)
	r := &benchResult{engine: e, code: lot.Code, points: points}
	get := func() (time.Duration, error) {
		w := httptest.NewRecorder()
		t0 := time.Now()
		e.ServeHTTP(w, httptest.NewRequest("GET", "/t/"+lot.Code, nil))
		d := time.Since(t0)
		if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "温度超标 30 次") {
			return d, fmt.Errorf("page: %d %.300s", w.Code, w.Body.String())
		}
		return d, nil
	}
	if r.cold, err = get(); err != nil {
		return nil, err
	}
	for range 40 {
		d, err := get()
		if err != nil {
			return nil, err
		}
		r.page = append(r.page, d)
	}
	q := fmt.Sprintf(`from(bucket: %s) |> range(start: %s, stop: %s) |> filter(fn: (r) => r._measurement == "reading" and r._field == "temp_c" and r.asset_id == "BENCH-TRK")`,
		influx.FluxString(ic.Bucket), influx.FluxTime(from), influx.FluxTime(to))
	for range 15 {
		t0 := time.Now()
		res, err := ic.Query().Query(ctx, q)
		if err != nil {
			return nil, err
		}
		n := 0
		for res.Next() {
			n++
		}
		res.Close()
		r.raw = append(r.raw, time.Since(t0))
		if n != points {
			return nil, fmt.Errorf("raw query returned %d readings, want %d", n, points)
		}
	}
	return r, nil
}

// writeMonth writes 4 sensors × one reading a minute, 3 °C with a daily 10-minute excursion to 6 °C on sensor D.
func writeMonth(ctx context.Context, c *influx.Client, from, to time.Time) (int, error) {
	var sb strings.Builder
	n := 0
	for t := from; t.Before(to); t = t.Add(time.Minute) {
		for s := range 4 {
			v := 3.0 + 0.1*float64(s)
			if s == 3 && t.Sub(from)%(24*time.Hour) >= 12*time.Hour && t.Sub(from)%(24*time.Hour) < 12*time.Hour+10*time.Minute {
				v = 6
			}
			fmt.Fprintf(&sb, "reading,asset_id=BENCH-TRK,asset_kind=truck,gateway_id=GW,sensor_id=BENCH-TRK-%d temp_c=%g %d\n", s, v, t.UnixNano())
			n++
		}
		if n%20000 == 0 {
			if err := c.Write().WriteRecord(ctx, sb.String()); err != nil {
				return 0, err
			}
			sb.Reset()
		}
	}
	if sb.Len() > 0 {
		if err := c.Write().WriteRecord(ctx, sb.String()); err != nil {
			return 0, err
		}
	}
	return n, nil
}

func pct(ds []time.Duration, p int) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
