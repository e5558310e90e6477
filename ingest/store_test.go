package ingest

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/suilong/suilong/ingest/rules"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

func f64(v float64) *float64 { return &v }

func mustRegistry(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	if _, _, err := s.CreateGateway(ctx, Gateway{ID: "LY-GW-0001"}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAsset(ctx, Asset{ID: "LY-TRK-0001", Kind: KindTruck, Band: Band{MinC: f64(0), MaxC: f64(4)}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateSensor(ctx, Sensor{ID: "LY-TRK-0001-A", GatewayID: "LY-GW-0001", AssetID: "LY-TRK-0001"}); err != nil {
		t.Fatal(err)
	}
}

func TestRegistry(t *testing.T) {
	s := NewStore(pgtest.New(t))
	ctx := context.Background()
	g, pw, err := s.CreateGateway(ctx, Gateway{ID: "LY-GW-0001", Name: "车载网关"}, false)
	if err != nil || len(pw) < 30 || g.SamplingIntervalS != 30 || g.Status != "unknown" {
		t.Fatalf("create gateway: %+v %q %v", g, pw, err)
	}
	var stored []byte
	if err := s.db.QueryRow(ctx, `SELECT password_hash FROM gateways WHERE id = $1`, g.ID).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored), pw) || !PasswordMatches(stored, pw) {
		t.Fatal("the MQTT password is not stored as its hash")
	}
	if _, _, err := s.CreateGateway(ctx, Gateway{ID: "LY-GW-0001"}, false); errs.CodeOf(err) != errs.Conflict {
		t.Fatalf("duplicate gateway: %v", err)
	}
	_, _, err = s.CreateGateway(ctx, Gateway{ID: "bad id/1", SamplingIntervalS: 0}, false)
	if e := errs.As(err); e == nil || e.Code != errs.Unprocessable || e.Fields[0].Field != "id" {
		t.Fatalf("bad gateway id: %v", err)
	}
	_, err = s.CreateAsset(ctx, Asset{ID: "A1", Kind: "boat", Band: Band{MinC: f64(5), MaxC: f64(2)}})
	if e := errs.As(err); e == nil || len(e.Fields) != 2 || e.Fields[0].Field != "kind" || e.Fields[1].Field != "band.max_c" {
		t.Fatalf("bad asset: %v", err)
	}
	if _, err := s.CreateAsset(ctx, Asset{ID: "GZ-CS-0001", Kind: KindColdStore, Band: Band{MaxC: f64(-18)}}); err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateSensor(ctx, Sensor{ID: "S1", GatewayID: "NOPE", AssetID: "GZ-CS-0001"})
	if e := errs.As(err); e == nil || e.Code != errs.Unprocessable || e.Fields[0].Field != "gateway_id" {
		t.Fatalf("sensor on an unknown gateway: %v", err)
	}
	_, err = s.CreateSensor(ctx, Sensor{ID: "S1", GatewayID: g.ID, AssetID: "NOPE"})
	if e := errs.As(err); e == nil || e.Fields[0].Field != "asset_id" {
		t.Fatalf("sensor in an unknown asset: %v", err)
	}
	if _, err := s.CreateSensor(ctx, Sensor{ID: "S1", GatewayID: g.ID, AssetID: "GZ-CS-0001"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteAsset(ctx, "GZ-CS-0001"); errs.CodeOf(err) != errs.Conflict {
		t.Fatalf("delete an asset with sensors: %v", err)
	}
	info, err := s.LookupSensor(ctx, "S1")
	if err != nil || info.AssetKind != KindColdStore || *info.Band.MaxC != -18 || info.Band.MinC != nil || info.GatewayID != g.ID {
		t.Fatalf("lookup: %+v %v", info, err)
	}
	if _, err := s.LookupSensor(ctx, "S2"); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("lookup unknown: %v", err)
	}
	// A retained status older than the stored one does not win.
	now := time.Now().Truncate(time.Millisecond)
	_ = s.SetGatewayStatus(ctx, g.ID, "online", now)
	_ = s.SetGatewayStatus(ctx, g.ID, "offline", now.Add(-time.Minute))
	if g, _ := s.Gateway(ctx, g.ID); g.Status != "online" {
		t.Fatalf("status %q, want online", g.Status)
	}
}

func TestAlarmLifecycle(t *testing.T) {
	s := NewStore(pgtest.New(t))
	ctx := context.Background()
	t0 := time.Date(2026, 11, 24, 8, 0, 0, 0, time.UTC)
	view := rules.Alarm{SensorID: "LY-TRK-0001-A", AssetID: "LY-TRK-0001", Kind: rules.Excursion, Start: t0, RaisedAt: t0.Add(15 * time.Minute),
		PeakC: 7.5, BandLo: 0, BandHi: 4, DegreeMinutes: 40}
	changed, err := s.ApplyAlarms(ctx, []rules.Alarm{view})
	if err != nil || len(changed) != 1 || changed[0].Status != StatusOpen || changed[0].EndedAt != nil {
		t.Fatalf("raise: %+v %v", changed, err)
	}
	id := changed[0].ID
	// The same view again (a restart re-derived it) changes nothing; a new peak is stored but not "news".
	if changed, _ := s.ApplyAlarms(ctx, []rules.Alarm{view}); len(changed) != 0 {
		t.Fatalf("re-applied: %+v", changed)
	}
	view.PeakC, view.DegreeMinutes = 8.5, 60
	if changed, _ := s.ApplyAlarms(ctx, []rules.Alarm{view}); len(changed) != 0 {
		t.Fatalf("peak update published: %+v", changed)
	}
	// Acknowledged while it lasts, then it ends: closed.
	a, err := s.AckAlarm(ctx, id, "coordinator@龙岩", "司机已调整温控")
	if err != nil || a.Status != StatusAcknowledged || a.ClosedAt != nil || *a.PeakC != 8.5 {
		t.Fatalf("ack: %+v %v", a, err)
	}
	view.End = t0.Add(40 * time.Minute)
	changed, _ = s.ApplyAlarms(ctx, []rules.Alarm{view})
	if len(changed) != 1 || changed[0].Status != StatusClosed || changed[0].ClosedAt == nil || !changed[0].EndedAt.Equal(view.End) {
		t.Fatalf("end after ack: %+v", changed)
	}
	if !strings.Contains(changed[0].MessageZH, "温度超标") || !strings.Contains(changed[0].MessageEN, "excursion") {
		t.Fatalf("messages: %q / %q", changed[0].MessageZH, changed[0].MessageEN)
	}

	// A door alarm that ended before anyone saw it stays open until acknowledged, then closes.
	door := rules.Alarm{SensorID: "LY-TRK-0001-B", AssetID: "LY-TRK-0001", Kind: rules.DoorOpen, Start: t0, RaisedAt: t0.Add(10 * time.Minute),
		End: t0.Add(12 * time.Minute), BandLo: math.Inf(-1), BandHi: math.Inf(1)}
	changed, _ = s.ApplyAlarms(ctx, []rules.Alarm{door})
	if len(changed) != 1 || changed[0].Status != StatusOpen || changed[0].EndedAt == nil || changed[0].PeakC != nil {
		t.Fatalf("ended door alarm: %+v", changed)
	}
	if a, err := s.AckAlarm(ctx, changed[0].ID, "x", ""); err != nil || a.Status != StatusClosed {
		t.Fatalf("ack an ended alarm: %+v %v", a, err)
	}

	// Withdrawn by late readings: no longer acknowledgeable; a view never stored is not inserted as withdrawn.
	ex := rules.Alarm{SensorID: "S9", AssetID: "A9", Kind: rules.Excursion, Start: t0, RaisedAt: t0}
	changed, _ = s.ApplyAlarms(ctx, []rules.Alarm{ex})
	ex.Withdrawn = true
	ghost := ex
	ghost.Start = t0.Add(time.Hour)
	w, _ := s.ApplyAlarms(ctx, []rules.Alarm{ex, ghost})
	if len(w) != 1 || w[0].Status != StatusWithdrawn {
		t.Fatalf("withdraw: %+v", w)
	}
	if _, err := s.AckAlarm(ctx, changed[0].ID, "x", ""); errs.CodeOf(err) != errs.Conflict {
		t.Fatalf("ack a withdrawn alarm: %v", err)
	}
	if _, err := s.AckAlarm(ctx, 99999, "x", ""); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("ack a missing alarm: %v", err)
	}

	list, total, err := s.Alarms(ctx, AlarmFilter{AssetID: "LY-TRK-0001", Status: []string{StatusClosed}}, Page{})
	if err != nil || total != 2 || len(list) != 2 {
		t.Fatalf("list: %d %v", total, err)
	}
	// Overlap filter: alarms whose condition lasted into [from, to).
	list, _, _ = s.Alarms(ctx, AlarmFilter{AssetID: "LY-TRK-0001", From: t0.Add(20 * time.Minute), To: t0.Add(30 * time.Minute)}, Page{})
	if len(list) != 1 || list[0].Kind != rules.Excursion {
		t.Fatalf("overlap filter: %+v", list)
	}
	counts, _ := s.AlarmCounts(ctx)
	if len(counts) != 0 {
		t.Fatalf("open alarm counts %v, want none", counts)
	}
}

func TestDeadLetters(t *testing.T) {
	s := NewStore(pgtest.New(t))
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	var d Decoder
	_, rej := d.Decode([]byte("\x00\xff{\"sensor_id\":"), nil, nil)
	ds := []DeadLetter{deadLetterOf(&rej[0], "LY-GW-0001", "coldchain/v1/readings/LY-GW-0001", now)}
	_, rej = d.Decode([]byte(`{"readings":[{"sensor_id":"a","ts":1,"temp_c":3},{"sensor_id":"b","ts":"x","temp_c":3}]}`), nil, nil)
	ds = append(ds, deadLetterOf(&rej[0], "GZ-GW-0001", "coldchain/v1/readings/GZ-GW-0001", now.Add(time.Second)))
	if err := s.InsertDeadLetters(ctx, ds); err != nil {
		t.Fatal(err)
	}
	list, total, err := s.DeadLetters(ctx, DeadLetterFilter{}, Page{})
	if err != nil || total != 2 || list[0].GatewayID != "GZ-GW-0001" || *list[0].ReadingIndex != 1 || list[1].ReadingIndex != nil {
		t.Fatalf("list: %+v %v", list, err)
	}
	if list[1].Reason != ReasonMalformedJSON || strings.ContainsRune(list[1].Payload, 0) || !strings.Contains(list[0].Payload, `"sensor_id":"b"`) {
		t.Fatalf("payloads: %q %q", list[1].Payload, list[0].Payload)
	}
	list, total, _ = s.DeadLetters(ctx, DeadLetterFilter{Reason: ReasonInvalidField, GatewayID: "GZ-GW-0001"}, Page{})
	if total != 1 || list[0].Field != "ts" {
		t.Fatalf("filtered: %+v", list)
	}
	if n, _ := s.PruneDeadLetters(ctx, now.Add(500*time.Millisecond)); n != 1 {
		t.Fatalf("pruned %d, want 1", n)
	}
}

// flaky wraps the registry so that a test can take PostgreSQL away.
type flaky struct {
	Registry
	down atomic.Bool
}

func (f *flaky) SensorIndex(ctx context.Context) ([]SensorInfo, error) {
	if f.down.Load() {
		return nil, errors.New("connection refused")
	}
	return f.Registry.SensorIndex(ctx)
}

func (f *flaky) LookupSensor(ctx context.Context, id string) (SensorInfo, error) {
	if f.down.Load() {
		return SensorInfo{}, errors.New("connection refused")
	}
	return f.Registry.LookupSensor(ctx, id)
}

func TestSensorCacheSurvivesAnOutage(t *testing.T) {
	s := NewStore(pgtest.New(t))
	mustRegistry(t, s)
	ctx := context.Background()
	reg := &flaky{Registry: s}
	file := filepath.Join(t.TempDir(), "sensors.json")
	c := NewSensorCache(reg, nil, file, nil)
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if info, reason := c.Lookup(ctx, "LY-TRK-0001-A"); reason != "" || info.AssetID != "LY-TRK-0001" {
		t.Fatalf("lookup: %+v %s", info, reason)
	}
	if _, reason := c.Lookup(ctx, "GHOST"); reason != ReasonUnknownSensor {
		t.Fatalf("unknown sensor: %s", reason)
	}
	// A sensor registered after the refresh is found by asking the registry.
	if _, err := s.CreateSensor(ctx, Sensor{ID: "LY-TRK-0001-B", GatewayID: "LY-GW-0001", AssetID: "LY-TRK-0001"}); err != nil {
		t.Fatal(err)
	}
	if _, reason := c.Lookup(ctx, "LY-TRK-0001-B"); reason != "" {
		t.Fatalf("new sensor: %s", reason)
	}

	reg.down.Store(true)
	if err := c.Refresh(ctx); err == nil {
		t.Fatal("refresh with the database down succeeded")
	}
	if _, reason := c.Lookup(ctx, "LY-TRK-0001-A"); reason != "" {
		t.Fatalf("a cached sensor is lost in an outage: %s", reason)
	}
	if _, reason := c.Lookup(ctx, "NEVER-SEEN"); reason != ReasonRegistryDown {
		t.Fatalf("uncached sensor in an outage: %s", reason)
	}
	// A restart during the outage still knows the sensors, from the copy on disk.
	c2 := NewSensorCache(reg, nil, file, nil)
	if n, err := c2.LoadFile(); err != nil || n != 1 {
		t.Fatalf("load file: %d %v", n, err)
	}
	if info, reason := c2.Lookup(ctx, "LY-TRK-0001-A"); reason != "" || *info.Band.MaxC != 4 {
		t.Fatalf("after restart: %+v %s", info, reason)
	}
}
