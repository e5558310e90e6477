package main

import (
	"context"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"time"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/trace"
)

// demoLot is one demo lot with a fixed code (named in the README) and its journey, in hours after harvest.
type demoLot struct {
	code            string
	base            string
	lot             trace.NewLot
	legs            []demoLeg
	receiveH        float64
	market          string
	excursionAt     float64 // hours after harvest; 0 for none
	excursionMinute int
}

type demoLeg struct {
	asset    string
	from, to float64
}

// The demo lots were harvested in Longyan's counties two to four days before the first `suilong demo` and went
// to Guangzhou's wholesale markets by reefer truck, two of them through the Longyan cold-chain centre. The
// second had its truck's rear door open at a stop: 35 minutes above 4 °C.
var demoLots = []demoLot{
	{code: "DEMOLY000001", base: "上杭县蛟洋蔬菜专业合作社 Shanghang Jiaoyang vegetable co-op",
		lot: trace.NewLot{Product: "choy-sum", Variety: "油青甜菜心", Grade: 1, QuantityKg: 4800, BaseName: "蛟洋镇高山蔬菜基地",
			County: "上杭县", Certifications: []trace.Certification{trace.CertGreenFood, trace.CertCailanzi}, CertificateNo: "FJSH20260001"},
		legs: []demoLeg{{"LY-CS-0001", 1.5, 10}, {"LY-TRK-0001", 10.5, 19.5}}, receiveH: 20, market: "广州江南果菜批发市场"},
	{code: "DEMOLY000002", base: "武平县象洞蔬菜合作社 Wuping Xiangdong vegetable co-op",
		lot: trace.NewLot{Product: "choy-sum", Variety: "四九菜心", Grade: 2, QuantityKg: 3200, BaseName: "象洞乡蔬菜基地",
			County: "武平县", Certifications: []trace.Certification{trace.CertCailanzi}, CertificateNo: "FJWP20260117"},
		legs: []demoLeg{{"LY-CS-0001", 2, 8}, {"LY-TRK-0002", 8.5, 18}}, receiveH: 18.5, market: "广州东升农产品批发市场",
		excursionAt: 12.5, excursionMinute: 35},
	{code: "DEMOLY000003", base: "上杭县蛟洋蔬菜专业合作社 Shanghang Jiaoyang vegetable co-op",
		lot: trace.NewLot{Product: "choy-sum", Variety: "迟菜心", Grade: 1, QuantityKg: 2500, BaseName: "蛟洋镇高山蔬菜基地",
			County: "上杭县", Certifications: []trace.Certification{trace.CertGreenFood, trace.CertGI}},
		legs: []demoLeg{{"LY-TRK-0003", 1, 9.5}}, receiveH: 10, market: "广州江南果菜批发市场"},
}

const demoBuyer = "广州江南果菜批发市场 Guangzhou Jiangnan market"

// traceDemo registers the demo lots (once; they keep their codes and times), records their journeys and writes
// their trucks' and cold stores' readings into InfluxDB, so that their pages show real charts at once. Running
// it again changes nothing: the readings are a function of asset, sensor and time and overwrite themselves.
func traceDemo(ctx context.Context, m *Main) error {
	s := m.Trace
	orgs := m.Auth
	org := func(name string, role auth.Role) (auth.Principal, error) {
		o, err := orgs.OrgByName(ctx, name)
		if errs.Is(err, errs.NotFound) {
			o, err = orgs.CreateOrg(ctx, name, role)
		}
		return auth.Principal{OrgID: o.ID, OrgName: o.Name, Role: o.Role}, err
	}
	buyer, err := org(demoBuyer, auth.RoleBuyer)
	if err != nil {
		return err
	}
	y, mo, dd := time.Now().In(trace.CST).Date()
	firstHarvest := time.Date(y, mo, dd-4, 6, 0, 0, 0, trace.CST) // a morning four days ago
	for i, d := range demoLots {
		base, err := org(d.base, auth.RoleBase)
		if err != nil {
			return err
		}
		l, err := s.Store.LotByCode(ctx, d.code)
		if errs.Is(err, errs.NotFound) {
			n := d.lot
			n.HarvestedAt = firstHarvest.Add(time.Duration(i) * 26 * time.Hour)
			if err := n.Validate(time.Now()); err != nil {
				return err
			}
			p, err := s.Products.Product(ctx, n.Product)
			if errs.Is(err, errs.NotFound) { // matching's demo has not registered it: the usual leafy-greens profile
				lo, hi := 0.0, 4.0
				p = trace.ProductInfo{Name: n.Product, NameZH: "菜心", Band: trace.Band{MinC: &lo, MaxC: &hi}}
			} else if err != nil {
				return err
			}
			l, err = s.Store.CreateLot(ctx, trace.LotRecord{NewLot: n, Code: d.code, OrgID: base.OrgID, Recorder: base.OrgName,
				ProductZH: p.NameZH, Band: p.Band})
			if err != nil {
				return fmt.Errorf("demo lot %s: %w", d.code, err)
			}
		} else if err != nil {
			return err
		}
		evs, err := s.Store.Events(ctx, l.ID)
		if err != nil {
			return err
		}
		h := l.HarvestedAt
		at := func(hours float64) time.Time { return h.Add(time.Duration(hours * float64(time.Hour))) }
		type step struct {
			p     auth.Principal
			kind  trace.EventKind
			t     time.Time
			asset string
		}
		var steps []step
		for _, g := range d.legs {
			steps = append(steps, step{base, trace.Load, at(g.from), g.asset}, step{base, trace.Unload, at(g.to), g.asset})
		}
		steps = append(steps, step{buyer, trace.Receive, at(d.receiveH), ""})
		for _, st := range steps {
			if hasEvent(evs, st.kind, st.t) {
				continue
			}
			n := trace.NewEvent{Kind: st.kind, At: st.t, AssetID: st.asset}
			if st.kind == trace.Receive {
				n.Location = d.market
			}
			e := trace.Event{LotID: l.ID, Kind: n.Kind, At: n.At, Location: n.Location, RecordedBy: st.p.OrgID, RecorderOrg: st.p.OrgName}
			var band trace.Band
			if n.AssetID != "" {
				info, err := s.Assets.Asset(ctx, n.AssetID)
				if err != nil {
					return fmt.Errorf("demo lot %s: asset %s (ingest's demo registers it): %w", d.code, n.AssetID, err)
				}
				e.AssetID, e.AssetKind, e.AssetName, e.AssetCity = info.ID, info.Kind, info.Name, info.City
				if band, err = s.AssetBand(ctx, info); err != nil {
					return err
				}
			}
			if _, _, err := s.Store.AddEvent(ctx, e, band); err != nil {
				return fmt.Errorf("demo lot %s: %w", d.code, err)
			}
		}
		for _, g := range d.legs {
			exc := func(t time.Time) bool { return false }
			if d.excursionAt > 0 && d.excursionAt >= g.from && d.excursionAt < g.to {
				e0 := at(d.excursionAt)
				exc = func(t time.Time) bool {
					return !t.Before(e0) && t.Before(e0.Add(time.Duration(d.excursionMinute)*time.Minute))
				}
			}
			// An hour either side of the leg, as the asset's sensors saw it.
			if err := writeDemoReadings(ctx, m.Readings, g.asset, at(g.from).Add(-time.Hour), at(g.to).Add(time.Hour), exc); err != nil {
				return fmt.Errorf("demo readings of %s: %w", g.asset, err)
			}
		}
		m.Log.Info("trace demo lot", "code", d.code, "url", s.URIs.Page(d.code))
	}
	return nil
}

func hasEvent(evs []trace.Event, k trace.EventKind, t time.Time) bool {
	for _, e := range evs {
		if e.Kind == k && e.At.Equal(t) {
			return true
		}
	}
	return false
}

// writeDemoReadings writes, through ingest's own line encoder and the InfluxDB adapter, one reading a minute for
// each of the asset's two demo sensors (ids as ingest's demo fleet names them): about 2.5 °C with a slow swing
// and a little noise, and during the excursion the rear sensor climbing to 8.6 °C and back.
func writeDemoReadings(ctx context.Context, w ingest.PointWriter, asset string, from, to time.Time, exc func(time.Time) bool) error {
	pl := ingest.Placement{AssetID: asset, AssetKind: ingest.KindTruck, GatewayID: strings.Replace(asset, "-TRK-", "-GW-", 1)}
	if strings.Contains(asset, "-CS-") {
		pl.AssetKind, pl.GatewayID = ingest.KindColdStore, "LY-GW-0101"
	}
	var lines []byte
	n := 0
	var excStart time.Time
	for t := from.Truncate(time.Minute); t.Before(to); t = t.Add(time.Minute) {
		for k, sensor := range []string{asset + "-A", asset + "-B"} {
			h := fnv.New32a()
			fmt.Fprintf(h, "%s|%d", sensor, t.Unix())
			noise := float64(h.Sum32()%100)/100*0.4 - 0.2
			v := 2.5 + 0.6*math.Sin(float64(t.Unix())/5400) + noise + float64(k)*0.3
			if k == 1 && exc(t) {
				if excStart.IsZero() {
					excStart = t
				}
				m := t.Sub(excStart).Minutes()
				v = 4.6 + 4*math.Sin(math.Pi*(m+1)/37)
			}
			r := ingest.Reading{SensorID: sensor, TS: t, TempC: math.Round(v*100) / 100,
				HumidityPct: math.Round((88+2*math.Sin(float64(t.Unix())/3000))*10) / 10,
				Has:         ingest.HasSensorID | ingest.HasTS | ingest.HasTemp | ingest.HasHumidity}
			lines = ingest.AppendLine(lines, &r, pl)
			n++
		}
		if n >= 5000 {
			if err := w.WriteLines(ctx, lines); err != nil {
				return err
			}
			lines, n = lines[:0], 0
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return w.WriteLines(ctx, lines)
}
