package ingest_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/influxw"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/influx/influxtest"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

var f0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func fm(m float64) time.Time { return f0.Add(time.Duration(m * float64(time.Minute))) }

type carriage map[int64]map[string][]ingest.Span

func (c carriage) AssetsCarrying(_ context.Context, org int64) ([]string, error) {
	var ids []string
	for id := range c[org] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

func (c carriage) Carried(_ context.Context, org int64, asset string) ([]ingest.Span, error) {
	return c[org][asset], nil
}

// Who sees what of the fleet, against PostgreSQL and InfluxDB: staff everything; a base or buyer only the
// assets that carried its lots, and their readings only in those periods, to the reading; gateway keys nothing.
func TestFleetVisibility(t *testing.T) {
	ctx := context.Background()
	store := ingest.NewStore(pgtest.New(t))
	ic := influxtest.New(t)
	for _, a := range []ingest.Asset{{ID: "LY-TRK-0001", Kind: ingest.KindTruck, Band: ingest.Band{MinC: f64(0), MaxC: f64(4)}}, {ID: "LY-TRK-0002", Kind: ingest.KindTruck},
		{ID: "LY-CS-0001", Kind: ingest.KindColdStore}} {
		if _, err := store.CreateAsset(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	// A reading a minute for two hours, each minute's temperature its own number of minutes after 10:00 / 10.
	var b strings.Builder
	for m := range 120 {
		fmt.Fprintf(&b, "reading,asset_id=LY-TRK-0001,asset_kind=truck,sensor_id=LY-TRK-0001-A,gateway_id=GW temp_c=%g %d\n", float64(m)/10, fm(float64(m)).UnixNano())
	}
	if err := ic.Write().WriteRecord(ctx, b.String()); err != nil {
		t.Fatal(err)
	}
	staff := auth.Principal{OrgID: 1, Role: auth.RoleCoordinator}
	base := auth.Principal{OrgID: 2, Role: auth.RoleBase}
	buyer := auth.Principal{OrgID: 3, Role: auth.RoleBuyer}
	stranger := auth.Principal{OrgID: 4, Role: auth.RoleBase}
	gateway := auth.Principal{OrgID: 5, Role: auth.RoleGateway}
	f := ingest.NewFleet(store, influxw.NewStore(ic), carriage{
		base.OrgID:  {"LY-TRK-0001": {{fm(10), fm(20)}, {fm(40.5), fm(70)}, {fm(15), fm(18)}}, "LY-CS-0001": {{fm(0), fm(10)}}},
		buyer.OrgID: {"LY-TRK-0001": {{From: fm(100)}}}, // still loaded
	})
	f.Now = func() time.Time { return fm(110) }

	ids := func(p auth.Principal) string {
		t.Helper()
		as, n, err := f.Assets(ctx, p, ingest.AssetFilter{}, ingest.Page{})
		if err != nil {
			return string(errs.CodeOf(err))
		}
		var out []string
		for _, a := range as {
			out = append(out, a.ID)
		}
		return fmt.Sprint(n, out)
	}
	for p, want := range map[*auth.Principal]string{&staff: "3 [LY-CS-0001 LY-TRK-0001 LY-TRK-0002]", &base: "2 [LY-CS-0001 LY-TRK-0001]",
		&buyer: "1 [LY-TRK-0001]", &stranger: "0 []", &gateway: "forbidden"} {
		if got := ids(*p); got != want {
			t.Errorf("%s %d lists %s, want %s", p.Role, p.OrgID, got, want)
		}
	}
	if as, n, err := f.Assets(ctx, base, ingest.AssetFilter{Kind: ingest.KindTruck}, ingest.Page{}); err != nil || n != 1 || as[0].ID != "LY-TRK-0001" {
		t.Errorf("a base's trucks: %v %d %v", as, n, err)
	}
	_, errUnknown := f.Asset(ctx, staff, "LY-TRK-9999")
	for _, p := range []auth.Principal{stranger, buyer} {
		_, err := f.Asset(ctx, p, "LY-TRK-0002")
		if e := errs.As(err); e == nil || e.Code != errs.NotFound || strings.ReplaceAll(e.Message, "0002", "9999") != errs.As(errUnknown).Message {
			t.Errorf("%s sees an asset that never carried its lots: %v (unknown: %v)", p.Role, err, errUnknown)
		}
		if _, err := f.AssetReadings(ctx, p, "LY-TRK-0002", ingest.ReadingsQuery{}); errs.CodeOf(err) != errs.NotFound {
			t.Errorf("%s reads an asset that never carried its lots: %v", p.Role, err)
		}
	}
	if _, err := f.AssetReadings(ctx, gateway, "LY-TRK-0001", ingest.ReadingsQuery{}); errs.CodeOf(err) != errs.Forbidden {
		t.Errorf("a gateway reads: %v", err)
	}

	// sum gives the count and the sum of the temperatures summarised, to compare with the readings written.
	sum := func(s ingest.AssetSeries) (int, float64) {
		n, total := 0, 0.0
		for _, p := range s.Points {
			n += p.Count
			total += p.MeanC * float64(p.Count)
		}
		return n, total
	}
	// readings counts the minutes m in [a, b) that have a reading, and their temperatures.
	readings := func(spans ...[2]float64) (int, float64) {
		n, total := 0, 0.0
		for m := range 120 {
			for _, s := range spans {
				if t := fm(float64(m)); !t.Before(fm(s[0])) && t.Before(fm(s[1])) {
					n++
					total += float64(m) / 10
				}
			}
		}
		return n, total
	}
	series := func(p auth.Principal, q ingest.ReadingsQuery) ingest.AssetSeries {
		t.Helper()
		s, err := f.AssetReadings(ctx, p, "LY-TRK-0001", q)
		if err != nil {
			t.Fatalf("%s: %v", p.Role, err)
		}
		return s
	}
	near := func(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }
	for _, tt := range []struct {
		name    string
		p       auth.Principal
		q       ingest.ReadingsQuery
		periods string
		spans   [][2]float64
	}{
		{"staff, all of it", staff, ingest.ReadingsQuery{From: fm(0), To: fm(120), Every: time.Hour}, "[{0 120}]", [][2]float64{{0, 120}}},
		// 10:10–10:20 (with 10:15–10:18 inside it) and 10:40:30–11:10: a window of an hour straddles both.
		{"base, its periods", base, ingest.ReadingsQuery{From: fm(0), To: fm(120), Every: time.Hour}, "[{10 20} {40.5 70}]", [][2]float64{{10, 20}, {40.5, 70}}},
		{"base, at one-minute windows", base, ingest.ReadingsQuery{From: fm(0), To: fm(120), Every: time.Minute}, "[{10 20} {40.5 70}]", [][2]float64{{10, 20}, {40.5, 70}}},
		{"base, clipped to the request", base, ingest.ReadingsQuery{From: fm(15), To: fm(45), Every: 5 * time.Minute}, "[{15 20} {40.5 45}]", [][2]float64{{15, 20}, {40.5, 45}}},
		{"base, one sensor", base, ingest.ReadingsQuery{SensorID: "LY-TRK-0001-A", From: fm(0), To: fm(30), Every: time.Minute}, "[{10 20}]", [][2]float64{{10, 20}}},
		{"base, another asset's sensor", base, ingest.ReadingsQuery{SensorID: "LY-CS-0001-A", From: fm(0), To: fm(30), Every: time.Minute}, "[{10 20}]", nil},
		{"buyer, still loaded: up to now", buyer, ingest.ReadingsQuery{From: fm(0), To: fm(120), Every: time.Minute}, "[{100 110}]", [][2]float64{{100, 110}}},
		{"buyer, outside its period", buyer, ingest.ReadingsQuery{From: fm(0), To: fm(60)}, "[]", nil},
		// Neither from nor to: the last 24 hours up to now (open period) or to the end of the latest period.
		{"buyer, by default", buyer, ingest.ReadingsQuery{}, "[{100 110}]", [][2]float64{{100, 110}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := series(tt.p, tt.q)
			var got []string
			for _, p := range s.Periods {
				got = append(got, fmt.Sprintf("{%g %g}", p.From.Sub(f0).Minutes(), p.To.Sub(f0).Minutes()))
			}
			if g := "[" + strings.Join(got, " ") + "]"; g != tt.periods {
				t.Errorf("periods %s, want %s", g, tt.periods)
			}
			n, total := sum(s)
			wn, wtotal := readings(tt.spans...)
			if n != wn || !near(total, wtotal) {
				t.Errorf("summarises %d readings (sum %g), want %d (sum %g): %+v", n, total, wn, wtotal, s.Points)
			}
			for _, p := range s.Points {
				if !p.Start.Before(s.To) || p.Start.Before(s.From) {
					t.Errorf("a window at %s is outside [%s, %s)", p.Start, s.From, s.To)
				}
			}
		})
	}
	// The base's default: its latest period ended at 11:10, so the 24 hours up to then.
	if s := series(base, ingest.ReadingsQuery{}); !s.To.Equal(fm(70)) || !s.From.Equal(fm(70).Add(-24*time.Hour)) {
		t.Errorf("base's default range %s – %s", s.From, s.To)
	}

	// More periods in one request than one query should carry: refused, naming from and to.
	many := make([]ingest.Span, ingest.MaxPeriods+1)
	for i := range many {
		many[i] = ingest.Span{From: fm(float64(i)), To: fm(float64(i) + 0.5)}
	}
	f.Carriage = carriage{stranger.OrgID: {"LY-TRK-0001": many}}
	_, err := f.AssetReadings(ctx, stranger, "LY-TRK-0001", ingest.ReadingsQuery{From: fm(0), To: fm(120)})
	if e := errs.As(err); e == nil || e.Code != errs.Unprocessable || len(e.Fields) != 2 || e.Fields[0].Field != "from" || e.Fields[1].Field != "to" {
		t.Errorf("too many periods: %v", err)
	}
	start := time.Now()
	if s, err := f.AssetReadings(ctx, stranger, "LY-TRK-0001", ingest.ReadingsQuery{From: fm(0), To: fm(ingest.MaxPeriods)}); err != nil || len(s.Periods) != ingest.MaxPeriods {
		t.Errorf("at most ingest.MaxPeriods periods: %v", err)
	} else if n, _ := sum(s); n != ingest.MaxPeriods {
		t.Errorf("%d periods of one reading each summarise %d readings", ingest.MaxPeriods, n)
	}
	t.Logf("%d periods read in %s", ingest.MaxPeriods, time.Since(start))
	if _, err := f.AssetReadings(ctx, stranger, "LY-TRK-0001", ingest.ReadingsQuery{From: fm(10), To: fm(5)}); errs.CodeOf(err) != errs.Unprocessable {
		t.Errorf("to before from: %v", err)
	}
}
func f64(v float64) *float64 { return &v }
