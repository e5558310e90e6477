package trace

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strconv"
	"time"
)

// The compliance record is what an inspector asks of a lot (GB 31605, Food Safety Law art. 50): who made it and
// what they pledged (承诺达标合格证), every leg of its journey with every reading taken there, the handovers
// with the temperatures measured, the excursions, MKT and time in band, and the verdict. Its JSON is
// deterministic, with no time of generation in it, so that the SHA-256 printed on the page identifies that
// record: a copy whose hash matches is unaltered.

// MaxRecordReadings bounds the readings of one leg in a record (30 days of 4 sensors at one a minute is
// 172,800).
const MaxRecordReadings = 500_000

// Record is a lot's compliance record.
type Record struct {
	Lot         RecordLot    `json:"lot"`
	Certificate Certificate  `json:"certificate"`
	Band        Band         `json:"band"`
	State       State        `json:"state"`
	ReceivedAt  *time.Time   `json:"received_at"`
	Legs        []RecordLeg  `json:"legs"`
	Handovers   []Handover   `json:"handovers"`
	Excursions  []Excursion  `json:"excursions"`
	Summary     RecordTotals `json:"summary"`
	Verdict     Verdict      `json:"verdict"`
}

// RecordLot is what the record says of the lot: what the public page shows, no more.
type RecordLot struct {
	Code           string          `json:"code"`
	Product        string          `json:"product"`
	ProductZH      string          `json:"product_zh"`
	Variety        string          `json:"variety"`
	Grade          int             `json:"grade"`
	QuantityKg     int64           `json:"quantity_kg"`
	Base           string          `json:"base"`
	County         string          `json:"county"`
	HarvestedAt    time.Time       `json:"harvested_at"`
	Certifications []Certification `json:"certifications"`
	CertificateNo  string          `json:"certificate_no"`
	ShelfLifeHours int             `json:"shelf_life_hours"`
}

// RecordLeg is one leg with its readings at their own resolution.
type RecordLeg struct {
	Leg       int           `json:"leg"`
	AssetKind AssetKind     `json:"asset_kind"`
	AssetName string        `json:"asset_name"`
	AssetCity string        `json:"asset_city"`
	From      time.Time     `json:"from"`
	To        *time.Time    `json:"to"` // nil while the lot is in the asset
	Summary   LegCompliance `json:"summary"`
	// Sensors is how many sensors read in the asset; a reading's S is its sensor's number (1…).
	Sensors   int             `json:"sensors"`
	Readings  []RecordReading `json:"readings"`
	Truncated bool            `json:"truncated,omitempty"`
}

// RecordReading is one reading: time, sensor number, °C.
type RecordReading struct {
	At    time.Time `json:"t"`
	S     int       `json:"s"`
	TempC float64   `json:"c"`
}

// RecordTotals are the journey's figures.
type RecordTotals struct {
	MonitoredMinutes int      `json:"monitored_minutes"`
	InBandMinutes    int      `json:"in_band_minutes"`
	OutOfBandMinutes int      `json:"out_of_band_minutes"`
	InBandPct        *float64 `json:"in_band_pct"`
	MinC             *float64 `json:"min_c"`
	MeanC            *float64 `json:"mean_c"`
	MaxC             *float64 `json:"max_c"`
	MKTC             *float64 `json:"mkt_c"`
	Readings         int      `json:"readings"`
}

// PublicRecord builds the compliance record of the lot with the code, for anyone who has the code.
// Errors: NotFound.
func (s *Service) PublicRecord(ctx context.Context, code string) (*Record, error) {
	r, err := s.PublicReport(ctx, code)
	if err != nil {
		return nil, err
	}
	return s.record(ctx, r)
}

func (s *Service) record(ctx context.Context, r *Report) (*Record, error) {
	l := r.Lot
	utc := func(t time.Time) time.Time { return t.UTC() }
	rec := &Record{
		Lot: RecordLot{Code: l.Code, Product: l.Product, ProductZH: l.ProductZH, Variety: l.Variety, Grade: l.Grade, QuantityKg: l.QuantityKg,
			Base: l.BaseName, County: l.County, HarvestedAt: utc(l.HarvestedAt), Certifications: l.Certifications, CertificateNo: l.CertificateNo,
			ShelfLifeHours: l.ShelfLifeHours},
		Certificate: l.Certificate, Band: l.Band, State: r.Custody.State, Legs: []RecordLeg{},
		// copies: the report may be shared (kept in memory) and the record changes these
		Handovers: slices.Clone(r.Compliance.Handovers), Excursions: slices.Clone(r.Compliance.Excursions), Verdict: r.Compliance.Verdict,
	}
	if !r.Custody.ReceivedAt.IsZero() {
		rec.ReceivedAt = ptr(utc(r.Custody.ReceivedAt))
	}
	cp := r.Compliance
	rec.Summary = RecordTotals{MonitoredMinutes: cp.MonitoredMinutes, InBandMinutes: cp.InBandMinutes, OutOfBandMinutes: cp.OutOfBandMinutes,
		InBandPct: cp.InBandPct, MinC: cp.MinC, MeanC: cp.MeanC, MaxC: cp.MaxC, MKTC: cp.MKTC}
	for i := range rec.Handovers {
		rec.Handovers[i].At = utc(rec.Handovers[i].At)
	}
	for i := range rec.Excursions {
		rec.Excursions[i].Start, rec.Excursions[i].End = utc(rec.Excursions[i].Start), utc(rec.Excursions[i].End)
		rec.Excursions[i].AssetID = "" // the public record names assets, not their ids
	}
	for i, g := range r.Custody.Legs {
		rl := RecordLeg{Leg: i, AssetKind: g.AssetKind, AssetName: g.AssetName, AssetCity: g.AssetCity, From: utc(g.From), Summary: cp.Legs[i],
			Readings: []RecordReading{}}
		if !g.Open {
			rl.To = ptr(utc(g.To))
		}
		if s.Raw != nil {
			rs, more, err := s.Raw.Raw(ctx, g.AssetID, g.From, g.End(r.GeneratedAt), MaxRecordReadings)
			if err != nil {
				return nil, err
			}
			rl.Truncated = more
			var ids []string
			for _, x := range rs {
				ids = append(ids, x.SensorID)
			}
			slices.Sort(ids)
			ids = slices.Compact(ids)
			rl.Sensors = len(ids)
			for _, x := range rs {
				n, _ := slices.BinarySearch(ids, x.SensorID)
				rl.Readings = append(rl.Readings, RecordReading{At: utc(x.At), S: n + 1, TempC: x.TempC})
			}
			slices.SortStableFunc(rl.Readings, func(a, b RecordReading) int {
				if c := a.At.Compare(b.At); c != 0 {
					return c
				}
				return a.S - b.S
			})
			rec.Summary.Readings += len(rl.Readings)
		}
		rec.Legs = append(rec.Legs, rl)
	}
	return rec, nil
}

// JSON is the record's canonical JSON: the same record gives the same bytes.
func (r *Record) JSON() ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// SHA256 is the hex SHA-256 of JSON.
func SHA256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// SensorLabel names sensor n of a leg for people: S1, S2, …
func SensorLabel(n int) string { return "S" + strconv.Itoa(n) }
