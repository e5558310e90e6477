package trace_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/suilong/suilong/trace"
	"github.com/suilong/suilong/trace/epcistest"
)

func f64(v float64) *float64 { return &v }

// journey is a lot that went base → Longyan cold store → truck (one excursion) → buyer.
func journey(t *testing.T, receive bool) *trace.Report {
	t.Helper()
	h := time.Date(2026, 11, 20, 6, 0, 0, 0, trace.CST)
	order, buyer := int64(42), int64(7)
	lot := trace.Lot{ID: 3, Code: "7K3M9QX2PA4T", OrgID: 5, OrgName: "上杭县蛟洋蔬菜专业合作社", Product: "choy-sum", ProductZH: "菜心",
		Variety: "油青甜菜心", Grade: 1, QuantityKg: 5000, BaseName: "蛟洋镇蔬菜基地 <A&B>", County: "上杭县", HarvestedAt: h,
		Certifications: []trace.Certification{trace.CertGreenFood, trace.CertCailanzi}, CertificateNo: "FJ-SH-2026-0001",
		OrderID: &order, BuyerOrgID: &buyer, Band: trace.Band{MinC: f64(0), MaxC: f64(4)}}
	evs := []trace.Event{
		{ID: 1, Kind: trace.Harvest, At: h, Location: lot.BaseName, RecordedAt: h},
		{ID: 2, Kind: trace.Load, At: h.Add(time.Hour), AssetID: "LY-CS-0001", AssetKind: trace.ColdStore, AssetName: "龙岩冷库", RecordedAt: h},
		{ID: 3, Kind: trace.Unload, At: h.Add(5 * time.Hour), AssetID: "LY-CS-0001", AssetKind: trace.ColdStore, RecordedAt: h},
		{ID: 4, Kind: trace.Load, At: h.Add(5 * time.Hour), AssetID: "LY-TRK-0001", AssetKind: trace.Truck, RecordedAt: h},
	}
	if receive {
		evs = append(evs, trace.Event{ID: 5, Kind: trace.Receive, At: h.Add(12 * time.Hour), Location: "广州江南果菜批发市场", Note: "验收合格", RecordedAt: h})
	}
	var w1, w2 []trace.Window
	for m := 60; m < 300; m += 5 {
		w1 = append(w1, trace.Window{Start: h.Add(time.Duration(m) * time.Minute), MinC: 1, MeanC: 2, MaxC: 3, Count: 10})
	}
	for m := 300; m < 720; m += 5 {
		w2 = append(w2, trace.Window{Start: h.Add(time.Duration(m) * time.Minute), MinC: 2, MeanC: 3, MaxC: 7, Count: 10})
	}
	out := []trace.Sample{{At: h.Add(8*time.Hour + 10*time.Second), TempC: 6}, {At: h.Add(8*time.Hour + 90*time.Second), TempC: 7}}
	r, err := trace.NewReport(lot, evs, []trace.LegReadings{{Windows: w1}, {Windows: w2, Outside: out}}, h.Add(13*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestEPCISValidatesAgainstGS1Schema(t *testing.T) {
	u := trace.NewURIs("https://suilong.example.cn")
	for _, receive := range []bool{true, false} {
		r := journey(t, receive)
		doc, err := trace.EPCIS(r, u)
		if err != nil {
			t.Fatal(err)
		}
		epcistest.Validate(t, doc)

		var d struct {
			Context []any `json:"@context"`
			Body    struct {
				Events []struct {
					Type, Action, BizStep, Disposition string
					EventTime                          string
					ReadPoint                          struct{ ID string }
					QuantityList                       []struct {
						EPCClass string
						Quantity float64
						UOM      string
					}
					ILMD    map[string]any
					Sensors []struct {
						Metadata struct{ StartTime, EndTime, DeviceID string } `json:"sensorMetadata"`
						Reports  []map[string]any                              `json:"sensorReport"`
					} `json:"sensorElementList"`
					BizTransactionList []struct{ Type, BizTransaction string }
				} `json:"eventList"`
			} `json:"epcisBody"`
		}
		if err := json.Unmarshal(doc, &d); err != nil {
			t.Fatal(err)
		}
		var steps []string
		for _, e := range d.Body.Events {
			steps = append(steps, e.Action+" "+e.BizStep+"/"+e.Disposition)
			if len(e.QuantityList) != 1 || e.QuantityList[0].EPCClass != "https://suilong.example.cn/t/7K3M9QX2PA4T" ||
				e.QuantityList[0].Quantity != 5000 || e.QuantityList[0].UOM != "KGM" {
				t.Errorf("quantity list %+v", e.QuantityList)
			}
		}
		want := "ADD commissioning/active|OBSERVE receiving/sellable_not_accessible|OBSERVE shipping/in_transit|OBSERVE loading/in_transit|"
		if receive {
			want += "OBSERVE receiving/sellable_accessible"
		} else {
			want += "OBSERVE sensor_reporting/in_transit"
		}
		if got := strings.Join(steps, "|"); got != want {
			t.Errorf("events:\n got %s\nwant %s", got, want)
		}
		ev := d.Body.Events
		if ev[0].ILMD["suilong:baseName"] != "蛟洋镇蔬菜基地 <A&B>" || ev[0].ILMD["suilong:complianceCertificateNo"] != "FJ-SH-2026-0001" || ev[0].EventTime != "2026-11-20T06:00:00.000+08:00" {
			t.Errorf("harvest: %+v", ev[0])
		}
		// The cold store leg's readings ride on its end (the store shipping the lot), the truck's on the receipt.
		if len(ev[2].Sensors) != 1 || ev[2].Sensors[0].Metadata.DeviceID != "https://suilong.example.cn/id/asset/LY-CS-0001" ||
			ev[2].Sensors[0].Metadata.StartTime != "2026-11-20T07:00:00.000+08:00" || ev[2].Sensors[0].Metadata.EndTime != "2026-11-20T11:00:00.000+08:00" {
			t.Errorf("cold store leg sensors: %+v", ev[2].Sensors)
		}
		if len(ev[1].Sensors)+len(ev[3].Sensors) != 0 {
			t.Error("loads carry sensor data")
		}
		truck := ev[4].Sensors
		if len(truck) != 1 {
			t.Fatalf("truck leg sensors: %+v", truck)
		}
		var alarms, summary int
		for _, rep := range truck[0].Reports {
			switch {
			case rep["exception"] == "ALARM_CONDITION":
				alarms++
				if rep["value"] != 7.0 || rep["time"] != "2026-11-20T14:00:00.000+08:00" || rep["suilong:excursionMinutes"] != 2.0 {
					t.Errorf("excursion report %v", rep)
				}
			case rep["minValue"] != nil:
				summary++
				if rep["minValue"] != 2.0 || rep["maxValue"] != 7.0 || rep["meanValue"] != 3.0 || rep["uom"] != "CEL" {
					t.Errorf("summary report %v", rep)
				}
			}
		}
		if alarms != 1 || summary != 1 {
			t.Errorf("truck reports: %d alarms, %d summaries: %v", alarms, summary, truck[0].Reports)
		}
		if receive && (len(ev[4].BizTransactionList) != 1 || ev[4].BizTransactionList[0].BizTransaction != "https://suilong.example.cn/id/order/42") {
			t.Errorf("receipt transactions %+v", ev[4].BizTransactionList)
		}
	}
}

// The validator itself must reject what GS1's schema rejects, or the test above proves nothing.
func TestEPCISValidatorRejects(t *testing.T) {
	doc, err := trace.EPCIS(journey(t, true), trace.NewURIs("https://suilong.example.cn"))
	if err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][2]string{
		"unknown bizStep":       {`"bizStep": "loading"`, `"bizStep": "teleporting"`},
		"bad time zone":         {`"eventTimeZoneOffset": "+08:00"`, `"eventTimeZoneOffset": "+8"`},
		"ILMD on OBSERVE":       {`"action": "ADD"`, `"action": "OBSERVE"`},
		"uom not UN/CEFACT":     {`"uom": "KGM"`, `"uom": "kilograms"`},
		"CBV URI as own vocab":  {`"bizStep": "loading"`, `"bizStep": "urn:epcglobal:cbv:bizstep:teleporting"`},
		"readPoint not URI":     {`"id": "https://suilong.example.cn/id/asset/LY-TRK-0001"`, `"id": "LY TRK 0001"`},
		"unknown member name":   {`"eventID"`, `"eventIdentifier"`},
		"missing schemaVersion": {`"schemaVersion": "2.0",`, ``},
	} {
		s := strings.Replace(string(doc), bad[0], bad[1], 1)
		if s == string(doc) {
			t.Fatalf("%s: %q not in the document", name, bad[0])
		}
		if epcistest.Check([]byte(s)) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, f := range []string{"Example_9.6.1-ObjectEventWithDigitalLink.jsonld", "SensorDataExample1.jsonld"} {
		p, err := epcistest.SchemaPath()
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(strings.Replace(p, "EPCIS-JSON-Schema.json", f, 1))
		if err != nil {
			t.Fatal(err)
		}
		if err := epcistest.Check(b); err != nil {
			t.Errorf("GS1's own example %s rejected: %v", f, err)
		}
	}
}
