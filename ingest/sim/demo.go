package sim

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/internal/errs"
)

// DemoAsset is one asset of the demo fleet with its gateway and sensors.
type DemoAsset struct {
	Asset   ingest.Asset
	Gateway ingest.Gateway
	Sensors []ingest.Sensor
}

func f(v float64) *float64 { return &v }

func demoTruck(n int) DemoAsset {
	id := fmt.Sprintf("LY-TRK-%04d", n)
	gw := fmt.Sprintf("LY-GW-%04d", n)
	return DemoAsset{
		Asset: ingest.Asset{ID: id, Kind: ingest.KindTruck, Name: fmt.Sprintf("龙岩冷藏车 %d 号 Longyan reefer truck %d", n, n),
			City: "龙岩 Longyan", Band: ingest.Band{MinC: f(0), MaxC: f(4)}, Product: "choy-sum"},
		Gateway: ingest.Gateway{ID: gw, Name: fmt.Sprintf("车载网关 %d Truck gateway %d", n, n), SamplingIntervalS: 30},
		Sensors: []ingest.Sensor{
			{ID: id + "-A", GatewayID: gw, AssetID: id, Name: "前舱 front"},
			{ID: id + "-B", GatewayID: gw, AssetID: id, Name: "后舱 rear"},
		},
	}
}

// Demo is the demo fleet: three reefer trucks of a Longyan logistics company on the Longyan–Guangzhou road, a
// produce cold store in Longyan and a frozen store in Guangzhou.
var Demo = []DemoAsset{
	demoTruck(1), demoTruck(2), demoTruck(3),
	{
		Asset: ingest.Asset{ID: "LY-CS-0001", Kind: ingest.KindColdStore, Name: "龙岩冷链物流中心 1 号冷库 Longyan cold-chain centre, store 1",
			City: "龙岩 Longyan", Band: ingest.Band{MinC: f(0), MaxC: f(4)}},
		Gateway: ingest.Gateway{ID: "LY-GW-0101", Name: "龙岩冷库网关 Longyan cold store gateway", SamplingIntervalS: 60},
		Sensors: []ingest.Sensor{
			{ID: "LY-CS-0001-A", GatewayID: "LY-GW-0101", AssetID: "LY-CS-0001", Name: "A 区 zone A"},
			{ID: "LY-CS-0001-B", GatewayID: "LY-GW-0101", AssetID: "LY-CS-0001", Name: "B 区 zone B"},
			{ID: "LY-CS-0001-C", GatewayID: "LY-GW-0101", AssetID: "LY-CS-0001", Name: "门口 by the door"},
		},
	},
	{
		Asset: ingest.Asset{ID: "GZ-CS-0001", Kind: ingest.KindColdStore, Name: "广州南沙冷链中心冻库 Guangzhou Nansha frozen store",
			City: "广州 Guangzhou", Band: ingest.Band{MaxC: f(-18)}},
		Gateway: ingest.Gateway{ID: "GZ-GW-0001", Name: "广州冻库网关 Guangzhou frozen store gateway", SamplingIntervalS: 60},
		Sensors: []ingest.Sensor{
			{ID: "GZ-CS-0001-A", GatewayID: "GZ-GW-0001", AssetID: "GZ-CS-0001", Name: "A 区 zone A"},
			{ID: "GZ-CS-0001-B", GatewayID: "GZ-GW-0001", AssetID: "GZ-CS-0001", Name: "B 区 zone B"},
		},
	},
}

// Fleet returns n simulated trucks with `sensors` sensors each (SIM-GW-0001, SIM-TRK-0001, SIM-TRK-0001-01…),
// for load runs.
func Fleet(n, sensors int) []DemoAsset {
	out := make([]DemoAsset, n)
	for i := range n {
		id := fmt.Sprintf("SIM-TRK-%04d", i+1)
		gw := fmt.Sprintf("SIM-GW-%04d", i+1)
		out[i] = DemoAsset{
			Asset:   ingest.Asset{ID: id, Kind: ingest.KindTruck, Name: "simulated truck " + id, City: "龙岩 Longyan", Band: ingest.Band{MinC: f(0), MaxC: f(4)}},
			Gateway: ingest.Gateway{ID: gw, Name: "simulated gateway " + gw, SamplingIntervalS: 30},
		}
		for k := range sensors {
			out[i].Sensors = append(out[i].Sensors, ingest.Sensor{ID: fmt.Sprintf("%s-%02d", id, k+1), GatewayID: gw, AssetID: id})
		}
	}
	return out
}

// Ensure registers assets, gateways and sensors that are missing, marking the gateways as simulated. It
// changes nothing that exists, so it can run any number of times.
func Ensure(ctx context.Context, s *ingest.Store, fleet []DemoAsset) error {
	exists := func(err error) bool { return errs.CodeOf(err) == errs.Conflict }
	for _, d := range fleet {
		if _, err := s.CreateAsset(ctx, d.Asset); err != nil && !exists(err) {
			return fmt.Errorf("asset %s: %w", d.Asset.ID, err)
		}
		if _, _, err := s.CreateGateway(ctx, d.Gateway, true); err != nil && !exists(err) {
			return fmt.Errorf("gateway %s: %w", d.Gateway.ID, err)
		}
		for _, x := range d.Sensors {
			if _, err := s.CreateSensor(ctx, x); err != nil && !exists(err) {
				return fmt.Errorf("sensor %s: %w", x.ID, err)
			}
		}
	}
	return nil
}

// Registered returns the simulated gateways of the registry with their sensors, giving each gateway a new MQTT
// password (passwords are stored hashed, so the simulator cannot learn the old one). only, when not empty,
// limits the result to those gateway ids.
func Registered(ctx context.Context, s *ingest.Store, only ...string) ([]Gateway, error) {
	gws, err := s.SimulatedGateways(ctx)
	if err != nil {
		return nil, err
	}
	index, err := s.SensorIndex(ctx)
	if err != nil {
		return nil, err
	}
	var out []Gateway
	for _, g := range gws {
		if len(only) > 0 && !slices.Contains(only, g.ID) {
			continue
		}
		pw, err := s.ResetGatewayPassword(ctx, g.ID)
		if err != nil {
			return nil, err
		}
		sg := Gateway{ID: g.ID, Password: pw}
		for _, i := range index {
			if i.GatewayID != g.ID {
				continue
			}
			x := Sensor{ID: i.SensorID, AssetID: i.AssetID, Kind: i.AssetKind, Lo: math.NaN(), Hi: math.NaN()}
			if i.Band.MinC != nil {
				x.Lo = *i.Band.MinC
			}
			if i.Band.MaxC != nil {
				x.Hi = *i.Band.MaxC
			}
			sg.Sensors = append(sg.Sensors, x)
		}
		slices.SortFunc(sg.Sensors, func(a, b Sensor) int {
			if a.ID < b.ID {
				return -1
			}
			return 1
		})
		if len(sg.Sensors) > 0 {
			out = append(out, sg)
		}
	}
	return out, nil
}
