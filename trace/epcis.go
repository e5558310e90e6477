package trace

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// EPCISContext is the JSON-LD context of EPCIS 2.0 documents.
const EPCISContext = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"

// EPCISContentType is the media type of the document.
const EPCISContentType = "application/ld+json"

// epcisNamespace seeds the name-based UUIDs of event ids, so that an event keeps its id across exports.
var epcisNamespace = uuid.MustParse("5b0f7a3e-6c1e-4f52-9a55-1f3c2d7e8a90")

// EPCIS encodes the report as a GS1 EPCIS 2.0 JSON-LD document:
//
//   - the harvest is an ObjectEvent ADD (bizStep commissioning) creating the lot's quantity, with the lot's
//     master data (product, variety, base, county, certifications, 合格证 number) as ILMD;
//   - each load and unload is an ObjectEvent OBSERVE with the bizStep and disposition of Why: trucks load and
//     unload, cold stores receive and ship;
//   - the buyer's receipt is an ObjectEvent OBSERVE (bizStep receiving) with the order as a purchase order;
//   - the event that ends a leg carries the leg's readings as a sensorElementList summary: minimum, maximum
//     and mean temperature, mean kinetic temperature, minutes in band, and one ALARM_CONDITION report per
//     excursion with its peak; a leg still open gets a sensor_reporting event at the report's time.
//
// The lot is a class-level identifier (its URI, a GS1 Digital Link when it has a GTIN) with a quantity in kg.
func EPCIS(r *Report, u URIs) ([]byte, error) {
	vocab := u.Vocab()
	doc := epcisDocument{
		Context:       []any{EPCISContext, map[string]string{"suilong": vocab}},
		Type:          "EPCISDocument",
		SchemaVersion: "2.0",
		CreationDate:  epcisTime(r.GeneratedAt),
	}
	lotURI := u.Lot(&r.Lot)
	qty := []quantityElement{{EPCClass: lotURI, Quantity: float64(r.Lot.QuantityKg), UOM: "KGM"}}
	// Which leg each event ends, to attach its readings.
	ends := map[int64]int{}
	for i, l := range r.Custody.Legs {
		if !l.Open {
			ends[l.EndID] = i
		}
	}
	for _, e := range r.Events {
		bizStep, disp := Why(e.Kind, e.AssetKind)
		id := e.EPCISEventID // a captured event keeps the id its partner gave it
		if id == "" {
			id = eventID(r.Lot.Code, strconv.FormatInt(e.ID, 10))
		}
		ev := objectEvent{
			Type: "ObjectEvent", EventTime: epcisTime(e.At), EventTimeZoneOffset: "+08:00",
			EventID: id,
			Action:  "OBSERVE", BizStep: bizStep, Disposition: disp, QuantityList: qty,
			Ext: map[string]any{"suilong:eventKind": string(e.Kind), "suilong:recordedAt": epcisTime(e.RecordedAt)},
		}
		switch e.Kind {
		case Harvest:
			ev.Action = "ADD"
			ev.ReadPoint = &idRef{u.Org(r.Lot.OrgID)}
			ev.BizLocation = &idRef{u.Org(r.Lot.OrgID)}
			ilmd := map[string]any{
				"cbvmda:countryOfOrigin":  "CN",
				"cbvmda:lotNumber":        r.Lot.Code,
				"suilong:product":         r.Lot.Product,
				"suilong:productNameZh":   r.Lot.ProductZH,
				"suilong:grade":           r.Lot.Grade,
				"suilong:baseName":        r.Lot.BaseName,
				"suilong:county":          r.Lot.County,
				"suilong:certifications":  r.Lot.Certifications,
				"suilong:harvestedAt":     epcisTime(r.Lot.HarvestedAt),
				"suilong:temperatureBand": bandDoc(r.Lot.Band),
			}
			if r.Lot.Variety != "" {
				ilmd["suilong:variety"] = r.Lot.Variety
			}
			if r.Lot.CertificateNo != "" {
				ilmd["suilong:complianceCertificateNo"] = r.Lot.CertificateNo
			}
			ev.ILMD = ilmd
		case Load, Unload:
			ev.ReadPoint = &idRef{u.Asset(e.AssetID)}
			if e.Kind == Load && e.AssetKind == ColdStore {
				ev.BizLocation = &idRef{u.Asset(e.AssetID)}
			}
			ev.Ext["suilong:assetKind"] = string(e.AssetKind)
			if e.AssetName != "" {
				ev.Ext["suilong:assetName"] = e.AssetName
			}
		case Receive:
			place := u.Place(r.Lot.Code, e.ID)
			ev.ReadPoint, ev.BizLocation = &idRef{place}, &idRef{place}
			ev.SourceList = []party{{Type: "owning_party", Source: u.Org(r.Lot.OrgID)}}
			if r.Lot.BuyerOrgID != nil {
				ev.DestinationList = []party{{Type: "owning_party", Destination: u.Org(*r.Lot.BuyerOrgID)}}
			}
			if r.Lot.OrderID != nil {
				ev.BizTransactionList = []bizTransaction{{Type: "po", BizTransaction: u.Base + "/id/order/" + strconv.FormatInt(*r.Lot.OrderID, 10)}}
			}
			if e.Location != "" {
				ev.Ext["suilong:location"] = e.Location
			}
		}
		if e.Note != "" {
			ev.Ext["suilong:note"] = e.Note
		}
		if e.HandoverTempC != nil {
			ev.Ext["suilong:handoverTempC"] = *e.HandoverTempC
			ev.Ext["suilong:measuredBy"] = e.MeasuredBy
		}
		if i, ok := ends[e.ID]; ok {
			ev.SensorElementList = []sensorElement{legSensorElement(r, i, u)}
		}
		doc.Body.EventList = append(doc.Body.EventList, ev)
	}
	if cur, ok := r.Custody.Current(); ok {
		i := len(r.Custody.Legs) - 1
		doc.Body.EventList = append(doc.Body.EventList, objectEvent{
			Type: "ObjectEvent", EventTime: epcisTime(r.GeneratedAt), EventTimeZoneOffset: "+08:00",
			EventID: eventID(r.Lot.Code, "open-leg-"+strconv.FormatInt(cur.LoadID, 10)+"-"+r.GeneratedAt.UTC().Format(time.RFC3339)),
			Action:  "OBSERVE", BizStep: "sensor_reporting", Disposition: "in_transit", QuantityList: qty,
			ReadPoint:         &idRef{u.Asset(cur.AssetID)},
			SensorElementList: []sensorElement{legSensorElement(r, i, u)},
		})
	}
	if doc.Body.EventList == nil {
		doc.Body.EventList = []objectEvent{}
	}
	return json.MarshalIndent(doc, "", "  ")
}

// legSensorElement summarises one leg's readings.
func legSensorElement(r *Report, i int, u URIs) sensorElement {
	leg := r.Custody.Legs[i]
	lc := r.Compliance.Legs[i]
	vocab := u.Vocab()
	se := sensorElement{Metadata: sensorMetadata{
		StartTime: epcisTime(leg.From), EndTime: epcisTime(leg.End(r.GeneratedAt)), DeviceID: u.Asset(leg.AssetID),
		DataProcessingMethod: vocab + "aggregateWindow-" + BaseEvery.String(),
	}}
	if lc.Readings > 0 {
		se.Reports = append(se.Reports, sensorReport{Type: "Temperature", MinValue: lc.MinC, MaxValue: lc.MaxC, MeanValue: lc.MeanC, UOM: "CEL",
			Ext: map[string]any{"suilong:readings": lc.Readings}})
		se.Reports = append(se.Reports, sensorReport{Type: "Temperature", Value: lc.MKTC, UOM: "CEL",
			DataProcessingMethod: vocab + "meanKineticTemperature"})
	}
	mins := func(v int) *float64 { f := float64(v); return &f }
	se.Reports = append(se.Reports,
		sensorReport{Type: "Time", Value: mins(lc.MonitoredMinutes), UOM: "MIN", DataProcessingMethod: vocab + "monitoredTime"},
		sensorReport{Type: "Time", Value: mins(lc.InBandMinutes), UOM: "MIN", DataProcessingMethod: vocab + "timeInBand"},
		sensorReport{Type: "Time", Value: mins(lc.OutOfBandMinutes), UOM: "MIN", DataProcessingMethod: vocab + "timeOutOfBand"},
	)
	for _, x := range r.Compliance.Excursions {
		if x.Leg != i {
			continue
		}
		peak := x.PeakC
		se.Reports = append(se.Reports, sensorReport{Type: "Temperature", Exception: "ALARM_CONDITION", Time: epcisTime(x.Start),
			Value: &peak, UOM: "CEL", BizRules: vocab + "band",
			Ext: map[string]any{"suilong:excursionEnd": epcisTime(x.End), "suilong:excursionMinutes": x.Minutes,
				"suilong:direction": x.Direction}})
	}
	return se
}

func bandDoc(b Band) map[string]any {
	m := map[string]any{}
	if b.MinC != nil {
		m["minC"] = *b.MinC
	}
	if b.MaxC != nil {
		m["maxC"] = *b.MaxC
	}
	return m
}

func eventID(code, id string) string {
	return "urn:uuid:" + uuid.NewSHA1(epcisNamespace, []byte(code+"/"+id)).String()
}

func epcisTime(t time.Time) string { return t.In(CST).Format("2006-01-02T15:04:05.000-07:00") }

type epcisDocument struct {
	Context       []any  `json:"@context"`
	Type          string `json:"type"`
	SchemaVersion string `json:"schemaVersion"`
	CreationDate  string `json:"creationDate"`
	Body          struct {
		EventList []objectEvent `json:"eventList"`
	} `json:"epcisBody"`
}

type idRef struct {
	ID string `json:"id"`
}

type quantityElement struct {
	EPCClass string  `json:"epcClass"`
	Quantity float64 `json:"quantity"`
	UOM      string  `json:"uom"`
}

type party struct {
	Type        string `json:"type"`
	Source      string `json:"source,omitempty"`
	Destination string `json:"destination,omitempty"`
}

type bizTransaction struct {
	Type           string `json:"type"`
	BizTransaction string `json:"bizTransaction"`
}

type objectEvent struct {
	Type                string            `json:"type"`
	EventTime           string            `json:"eventTime"`
	EventTimeZoneOffset string            `json:"eventTimeZoneOffset"`
	EventID             string            `json:"eventID"`
	Action              string            `json:"action"`
	BizStep             string            `json:"bizStep"`
	Disposition         string            `json:"disposition"`
	QuantityList        []quantityElement `json:"quantityList"`
	ReadPoint           *idRef            `json:"readPoint,omitempty"`
	BizLocation         *idRef            `json:"bizLocation,omitempty"`
	BizTransactionList  []bizTransaction  `json:"bizTransactionList,omitempty"`
	SourceList          []party           `json:"sourceList,omitempty"`
	DestinationList     []party           `json:"destinationList,omitempty"`
	SensorElementList   []sensorElement   `json:"sensorElementList,omitempty"`
	ILMD                map[string]any    `json:"ilmd,omitempty"`
	Ext                 map[string]any    `json:"-"` // extension fields, names prefixed "suilong:"
}

type sensorElement struct {
	Metadata sensorMetadata `json:"sensorMetadata"`
	Reports  []sensorReport `json:"sensorReport"`
}

type sensorMetadata struct {
	StartTime            string `json:"startTime"`
	EndTime              string `json:"endTime"`
	DeviceID             string `json:"deviceID"`
	DataProcessingMethod string `json:"dataProcessingMethod"`
}

type sensorReport struct {
	Type                 string         `json:"type"`
	Exception            string         `json:"exception,omitempty"`
	Time                 string         `json:"time,omitempty"`
	Value                *float64       `json:"value,omitempty"`
	MinValue             *float64       `json:"minValue,omitempty"`
	MaxValue             *float64       `json:"maxValue,omitempty"`
	MeanValue            *float64       `json:"meanValue,omitempty"`
	UOM                  string         `json:"uom"`
	DataProcessingMethod string         `json:"dataProcessingMethod,omitempty"`
	BizRules             string         `json:"bizRules,omitempty"`
	Ext                  map[string]any `json:"-"`
}

func (e objectEvent) MarshalJSON() ([]byte, error) {
	type plain objectEvent
	return withExt(plain(e), e.Ext)
}

func (s sensorReport) MarshalJSON() ([]byte, error) {
	type plain sensorReport
	return withExt(plain(s), s.Ext)
}

// withExt marshals v and appends the extension fields to the object (EPCIS allows extension members whose
// names are URIs or compact IRIs of a declared prefix).
func withExt(v any, ext map[string]any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil || len(ext) == 0 {
		return b, err
	}
	x, err := json.Marshal(ext)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSuffix(b, []byte("}"))
	return append(append(b, ','), x[1:]...), nil
}
