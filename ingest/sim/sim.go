// Package sim simulates cold-chain IoT gateways: reefer trucks on the Longyan–Guangzhou road and cold stores in
// both cities, each gateway an MQTT client that publishes its sensors' readings exactly as the contract says
// (QoS 1, single readings or batches, retained online/offline status with a last will, configuration from its
// commands topic). Optional faults exercise the platform: excursions, doors left open, malformed and foreign
// messages, a skewed clock, a gateway going silent.
//
// Readings are a deterministic function of the sensor and the time, so a backfill of history and the live
// stream agree, and a scenario can be replayed.
package sim

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/suilong/suilong/ingest"
)

// Sensor is a simulated probe.
type Sensor struct {
	ID      string
	AssetID string
	Kind    ingest.AssetKind
	// Lo and Hi are the band the asset is meant to keep; the sensor reads inside it unless a fault says
	// otherwise. NaN for an open bound.
	Lo, Hi float64
}

// Gateway is a simulated gateway with its MQTT credentials.
type Gateway struct {
	ID       string
	Password string
	Sensors  []Sensor
}

// Faults to inject.
type Faults struct {
	// Excursion: the first sensor of the first truck leaves its band by 3 °C for 25 minutes of every two hours.
	Excursion bool
	// DoorOpen: the rear door of the second truck stays open 12 minutes of every three hours.
	DoorOpen bool
	// MalformedRate is the share of messages replaced by a bad one (malformed JSON, NaN, out of range, an
	// unknown or another gateway's sensor).
	MalformedRate float64
	// ClockSkew shifts the last gateway's timestamps.
	ClockSkew time.Duration
	// SilentGateway: the last gateway stops publishing (and drops offline) halfway through the run, or after
	// ten minutes when the run has no end.
	SilentGateway bool
}

// Options configure a run.
type Options struct {
	URL string
	// TLS is used with a TLS URL (ssl://, tls://, mqtts://); nil: the system's roots.
	TLS      *tls.Config
	Gateways []Gateway
	// Interval is each sensor's sampling interval (default 30s); a gateway's commands may change it.
	Interval time.Duration
	// Batch makes a gateway send all its sensors' readings of one tick in one {"readings": [...]} message.
	Batch bool
	// Duration ends the run (0: until ctx ends).
	Duration time.Duration
	// Backfill first publishes this much history (in batches, as a gateway catching up after being offline).
	Backfill time.Duration
	Faults   Faults
	Seed     uint64
	Log      *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Stats count what a run published.
type Stats struct {
	Messages  int64
	Readings  int64
	Malformed int64
}

// Route of the trucks: Longyan (龙岩) to Guangzhou (广州), about eight hours.
var (
	longyan   = [2]float64{25.0751, 117.0173}
	guangzhou = [2]float64{23.1291, 113.2644}
)

// Run publishes until the duration is over or ctx ends.
func Run(ctx context.Context, o Options) (Stats, error) {
	if len(o.Gateways) == 0 {
		return Stats{}, errors.New("sim: no gateways to simulate")
	}
	if o.Interval <= 0 {
		o.Interval = 30 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	start := o.Now()
	epoch := start.Add(-o.Backfill).Truncate(time.Minute)
	var st stats
	var wg sync.WaitGroup
	errc := make(chan error, len(o.Gateways))
	for gi := range o.Gateways {
		g := &gw{Gateway: o.Gateways[gi], o: &o, index: gi, epoch: epoch, st: &st,
			rng: rand.New(rand.NewPCG(o.Seed, uint64(gi)+1))}
		g.interval.Store(int64(o.Interval))
		if gi == len(o.Gateways)-1 {
			g.skew = o.Faults.ClockSkew
			if o.Faults.SilentGateway {
				after := 10 * time.Minute
				if o.Duration > 0 {
					after = o.Duration / 2
				}
				g.silentAt = start.Add(after)
			}
		}
		wg.Go(func() {
			if err := g.run(ctx, start); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("gateway %s: %w", g.ID, err)
			}
		})
	}
	wg.Wait()
	close(errc)
	s := Stats{Messages: st.messages.Load(), Readings: st.readings.Load(), Malformed: st.malformed.Load()}
	return s, <-errc
}

type stats struct {
	messages, readings, malformed atomic.Int64
}

type gw struct {
	Gateway
	o        *Options
	index    int
	epoch    time.Time
	skew     time.Duration
	silentAt time.Time
	st       *stats
	rng      *rand.Rand
	interval atomic.Int64
	client   paho.Client
	seq      int64
}

func (g *gw) run(ctx context.Context, start time.Time) error {
	status := ingest.TopicStatus + g.ID
	offline, _ := json.Marshal(map[string]string{"state": "offline"})
	opts := paho.NewClientOptions().AddBroker(g.o.URL).SetClientID(g.ID).SetUsername(g.ID).SetPassword(g.Password).
		SetCleanSession(false).SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(10*time.Second).SetKeepAlive(30*time.Second).SetWriteTimeout(30*time.Second).SetTLSConfig(g.o.TLS).
		SetWill(status, string(offline), 1, true).
		SetOnConnectHandler(func(c paho.Client) {
			online, _ := json.Marshal(map[string]any{"state": "online", "ts": g.o.Now().UTC().Format(time.RFC3339)})
			c.Publish(status, 1, true, online)
			c.Subscribe(ingest.TopicCommands+g.ID, 1, func(_ paho.Client, m paho.Message) { g.command(m.Payload()) })
		})
	g.client = paho.NewClient(opts)
	t := g.client.Connect()
	select {
	case <-ctx.Done():
		return nil
	case <-t.Done():
		if err := t.Error(); err != nil {
			return err
		}
	}
	defer g.client.Disconnect(250)

	if g.o.Backfill > 0 {
		if err := g.backfill(ctx, start); err != nil {
			return err
		}
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		}
		now := g.o.Now()
		if !g.silentAt.IsZero() && now.After(g.silentAt) {
			g.o.Log.Info("sim: gateway goes silent", "gateway", g.ID)
			g.client.Disconnect(0) // no clean goodbye: the broker publishes its last will
			<-ctx.Done()
			return nil
		}
		g.tick(ctx, now)
		timer.Reset(time.Duration(g.interval.Load()))
	}
}

// command applies a configuration pushed on the commands topic: {"sampling_interval_s": 15}.
func (g *gw) command(payload []byte) {
	var c struct {
		SamplingIntervalS int `json:"sampling_interval_s"`
	}
	if json.Unmarshal(payload, &c) == nil && c.SamplingIntervalS > 0 {
		g.interval.Store(int64(time.Duration(c.SamplingIntervalS) * time.Second))
		g.o.Log.Info("sim: new sampling interval", "gateway", g.ID, "interval_s", c.SamplingIntervalS)
	}
}

// backfill publishes the history since epoch in batches of up to 50 readings, with up to 50 messages in flight.
func (g *gw) backfill(ctx context.Context, until time.Time) error {
	step := g.o.Interval
	var tokens []paho.Token
	var buf []string
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		payload := `{"readings":[` + strings.Join(buf, ",") + `]}`
		tokens = append(tokens, g.client.Publish(ingest.TopicReadings+g.ID, 1, false, payload))
		g.st.messages.Add(1)
		g.st.readings.Add(int64(len(buf)))
		buf = buf[:0]
		if len(tokens) >= 50 {
			for _, t := range tokens {
				t.Wait()
				if err := t.Error(); err != nil {
					return err
				}
			}
			tokens = tokens[:0]
		}
		return nil
	}
	for t := g.epoch; t.Before(until); t = t.Add(step) {
		if ctx.Err() != nil {
			return nil
		}
		for _, s := range g.Sensors {
			buf = append(buf, string(g.reading(s, t)))
			if len(buf) == 50 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	for _, t := range tokens {
		t.Wait()
	}
	return nil
}

func (g *gw) tick(ctx context.Context, now time.Time) {
	topic := ingest.TopicReadings + g.ID
	publish := func(payload []byte, n int) {
		if g.rng.Float64() < g.o.Faults.MalformedRate {
			payload = g.malformed(now)
			g.st.malformed.Add(1)
			n = 0
		}
		t := g.client.Publish(topic, 1, false, payload)
		g.st.messages.Add(1)
		g.st.readings.Add(int64(n))
		select {
		case <-t.Done():
		case <-ctx.Done():
		}
	}
	if g.o.Batch {
		parts := make([]string, len(g.Sensors))
		for i, s := range g.Sensors {
			parts[i] = string(g.reading(s, now))
		}
		publish([]byte(`{"readings":[`+strings.Join(parts, ",")+`]}`), len(parts))
		return
	}
	for _, s := range g.Sensors {
		publish(g.reading(s, now), 1)
	}
}

// malformed returns one of the bad messages gateways send in real life.
func (g *gw) malformed(now time.Time) []byte {
	ts := now.Add(g.skew).UnixMilli()
	s := g.Sensors[g.rng.IntN(len(g.Sensors))].ID
	switch g.rng.IntN(5) {
	case 0:
		return []byte(`{"sensor_id":"` + s + `","ts":` + fmt.Sprint(ts) + `,"temp_c":`) // cut off mid-message
	case 1:
		return fmt.Appendf(nil, `{"sensor_id":%q,"ts":%d,"temp_c":NaN}`, s, ts)
	case 2:
		return fmt.Appendf(nil, `{"sensor_id":%q,"ts":%d,"temp_c":99.9}`, s, ts)
	case 3:
		return fmt.Appendf(nil, `{"sensor_id":"GHOST-%04d","ts":%d,"temp_c":3.1}`, g.rng.IntN(10000), ts)
	default:
		return fmt.Appendf(nil, `{"sensor_id":"FOREIGN-%s","ts":%d,"temp_c":3.1}`, s, ts)
	}
}

// reading is the sensor's reading at t, as JSON.
func (g *gw) reading(s Sensor, t time.Time) []byte {
	g.seq++
	temp, door, lat, lon := g.physics(s, t)
	h := fnv.New32a()
	h.Write([]byte(s.ID))
	phase := float64(h.Sum32()%1000) / 1000 * 2 * math.Pi
	hum := 85 + 5*math.Sin(float64(t.Unix())/1800+phase)
	battery := 100 - math.Mod(float64(t.Sub(g.epoch).Hours())*0.8, 60)
	ts := t.Add(g.skew).UTC().Format("2006-01-02T15:04:05.000Z07:00")
	var b strings.Builder
	fmt.Fprintf(&b, `{"sensor_id":%q,"ts":%q,"temp_c":%.2f,"humidity_pct":%.1f`, s.ID, ts, temp, hum)
	if s.ID == g.Sensors[len(g.Sensors)-1].ID { // the sensor by the door reports it
		fmt.Fprintf(&b, `,"door_open":%t`, door)
	}
	if s.Kind == ingest.KindTruck {
		fmt.Fprintf(&b, `,"lat":%.5f,"lon":%.5f`, lat, lon)
	}
	fmt.Fprintf(&b, `,"battery_pct":%.0f,"seq":%d}`, battery, g.seq)
	return []byte(b.String())
}

// physics gives a sensor's temperature, door and position at t: the middle of its band with slow drift and a
// little noise, and the faults.
func (g *gw) physics(s Sensor, t time.Time) (temp float64, door bool, lat, lon float64) {
	lo, hi := s.Lo, s.Hi
	target := 3.0
	switch {
	case !math.IsNaN(lo) && !math.IsNaN(hi):
		target = (lo + hi) / 2
	case !math.IsNaN(hi):
		target = hi - 2.5
	case !math.IsNaN(lo):
		target = lo + 2.5
	}
	h := fnv.New32a()
	h.Write([]byte(s.ID))
	phase := float64(h.Sum32()%1000) / 1000 * 2 * math.Pi
	sec := float64(t.Unix())
	temp = target + 0.6*math.Sin(sec/900+phase) + 0.15*math.Sin(sec/37+2*phase)

	since := t.Sub(g.epoch)
	truckIndex := g.truckIndex()
	if s.Kind == ingest.KindTruck {
		if g.o.Faults.Excursion && truckIndex == 0 && s.ID == g.Sensors[0].ID {
			if m := since % (2 * time.Hour); m >= 40*time.Minute && m < 65*time.Minute {
				edge := hi
				if math.IsNaN(edge) {
					edge = target + 2.5
				}
				temp = edge + 3 + 0.3*math.Sin(sec/60)
			}
		}
		if g.o.Faults.DoorOpen && truckIndex == 1 {
			if m := since % (3 * time.Hour); m >= 70*time.Minute && m < 82*time.Minute {
				door = true
				temp += 1.2 * float64(m-70*time.Minute) / float64(12*time.Minute)
			}
		}
		frac := math.Mod(since.Hours()+float64(g.index), 8) / 8
		lat = longyan[0] + (guangzhou[0]-longyan[0])*frac
		lon = longyan[1] + (guangzhou[1]-longyan[1])*frac
	}
	return temp, door, lat, lon
}

// truckIndex is this gateway's rank among the gateways that carry truck sensors (faults go to the first ones).
func (g *gw) truckIndex() int {
	n := 0
	for i := 0; i < g.index; i++ {
		if len(g.o.Gateways[i].Sensors) > 0 && g.o.Gateways[i].Sensors[0].Kind == ingest.KindTruck {
			n++
		}
	}
	return n
}
