package ingest

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/suilong/suilong/ingest/rules"
)

func gatewayOf(topic, prefix string) (string, bool) {
	if !strings.HasPrefix(topic, prefix) {
		return "", false
	}
	gw := topic[len(prefix):]
	if checkID([]byte(gw)) != "" {
		return "", false
	}
	return gw, true
}

type workerState struct {
	dec      Decoder
	readings []Reading
	rejs     []Rejection
	lines    []byte
	dead     []DeadLetter
	held     [][]byte
}

func (p *Pipeline) worker() {
	w := &workerState{dec: Decoder{MaxPayload: p.cfg.MaxPayload, Intern: p.cache.Intern}}
	for m := range p.queue {
		p.dequeued(int64(len(m.Payload)))
		p.process(w, &m)
	}
}

// hardLimit bounds a batch while writes are slow: workers wait instead of growing it (backpressure).
func (p *Pipeline) hardLimit() int { return 4 * p.cfg.BatchSize }

// process admits one message: every reading is validated and resolved to its asset on its own; the accepted
// ones become line protocol for the current batch and are shown to the rules, the rejected ones dead letters,
// and those of sensors the registry cannot be asked about (PostgreSQL away) are held to be admitted again
// later. The message joins the batch whose write acknowledges it.
func (p *Pipeline) process(w *workerState, m *Message) {
	ctx := context.Background()
	now := p.Now()
	received := m.Received
	if received.IsZero() {
		received = now
	}
	if gw, ok := gatewayOf(m.Topic, TopicStatus); ok {
		p.m.statusMessages.Inc()
		if p.writer != nil { // the processes that store readings record statuses too
			p.status(gw, m.Payload, now)
		}
		if m.Ack != nil {
			m.Ack()
		}
		p.pending.Add(-1)
		return
	}
	p.m.readingMessages.Inc()
	w.lines, w.dead, w.held = w.lines[:0], w.dead[:0], w.held[:0]
	n := 0
	var newest int64
	gw, ok := gatewayOf(m.Topic, TopicReadings)
	if !ok {
		rej := Rejection{Index: -1, Reason: ReasonBadTopic, Detail: "topic must be " + TopicReadings + "{gateway_id}", Raw: excerpt(m.Payload)}
		w.dead = append(w.dead, deadLetterOf(&rej, "", m.Topic, received))
		p.m.Rejected.WithLabelValues(string(rej.Reason)).Inc()
	} else {
		w.readings, w.rejs = w.dec.Decode(m.Payload, w.readings[:0], w.rejs[:0])
		p.m.Received.Add(float64(len(w.readings)))
		for k := range w.readings {
			r := &w.readings[k]
			// A reading held while the registry was away is judged by when it arrived, not by when it comes back.
			if rej, ok := p.cfg.Limits.Validate(r, received); !ok {
				w.rejs = append(w.rejs, rej)
				continue
			}
			info, reason := p.cache.Lookup(ctx, r.SensorID)
			if reason == ReasonRegistryDown && p.holdSpool != nil && p.writer != nil {
				w.held = append(w.held, encodeHeld(m.Topic, received, r.raw))
				p.m.Held.Inc()
				continue
			}
			if reason != "" {
				detail := "sensor " + r.SensorID + " is not registered"
				if reason == ReasonRegistryDown {
					detail = "sensor " + r.SensorID + " is not cached and the registry (PostgreSQL) is unreachable"
				}
				w.rejs = append(w.rejs, Rejection{Index: r.Index, Reason: reason, Field: "sensor_id", Detail: detail, SensorID: r.SensorID, Raw: r.raw})
				continue
			}
			if info.GatewayID != gw {
				w.rejs = append(w.rejs, Rejection{Index: r.Index, Reason: ReasonForeignSensor, Field: "sensor_id",
					Detail: "sensor " + r.SensorID + " belongs to gateway " + info.GatewayID + ", not " + gw, SensorID: r.SensorID, Raw: r.raw})
				continue
			}
			w.lines = AppendLine(w.lines, r, info.Placement())
			n++
			ts := r.TS.UnixNano()
			newest = max(newest, ts)
			if p.rules != nil {
				p.rules.Observe(r.SensorID, info.AssetID, sampleOf(r, p.bands.Band(ctx, info, r.TS)))
			}
		}
		for k := range w.rejs {
			p.m.Rejected.WithLabelValues(string(w.rejs[k].Reason)).Inc()
		}
		if len(w.rejs) > 0 {
			allowed := p.budget.take(gw, w.rejs, now)
			for k := range w.rejs[:allowed] {
				w.dead = append(w.dead, deadLetterOf(&w.rejs[k], gw, m.Topic, received))
			}
			if s := len(w.rejs) - allowed; s > 0 {
				p.m.DeadSuppressed.Add(float64(s))
			}
		}
		p.m.Accepted.Add(float64(n))
	}
	if p.writer == nil {
		// The rules have seen the readings, which is all this process does with them: the ingest workers store
		// them and their dead letters. A crash before the rules' state is saved is covered by the restore, which
		// reads the stored readings back.
		if m.Ack != nil {
			m.Ack()
		}
		p.pending.Add(-1)
		return
	}

	p.mu.Lock()
	for p.cur.n >= p.hardLimit() {
		p.cond.Wait()
	}
	b := p.cur
	if b.msgs == 0 {
		b.first = now
	}
	b.lines = append(b.lines, w.lines...)
	b.n += n
	b.msgs++
	if m.Ack != nil {
		b.acks = append(b.acks, m.Ack)
	}
	if n > 0 {
		b.newest = append(b.newest, newest)
	}
	b.dead = append(b.dead, w.dead...)
	b.held = append(b.held, w.held...) // fresh allocations: the batch owns them from here
	if gw != "" {
		p.seen[gw] = now
	}
	p.mu.Unlock()
	p.pending.Add(-1)
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func sampleOf(r *Reading, b Band) rules.Sample {
	s := rules.Sample{TS: r.TS.UnixMilli(), TempC: float32(r.TempC), Lo: float32(math.Inf(-1)), Hi: float32(math.Inf(1))}
	if b.MinC != nil {
		s.Lo = float32(*b.MinC)
	}
	if b.MaxC != nil {
		s.Hi = float32(*b.MaxC)
	}
	if r.Has&HasDoor != 0 {
		s.Door = rules.DoorClosed
		if r.DoorOpen {
			s.Door = rules.DoorOpened
		}
	}
	return s
}

// A held reading is kept as [8-byte received time, ns][2-byte topic length][topic][the reading's JSON], so that
// it comes back as the single-reading message it was part of.
func encodeHeld(topic string, received time.Time, raw []byte) []byte {
	b := make([]byte, 10, 10+len(topic)+len(raw))
	binary.LittleEndian.PutUint64(b[0:8], uint64(received.UnixNano()))
	binary.LittleEndian.PutUint16(b[8:10], uint16(len(topic)))
	b = append(b, topic...)
	return append(b, raw...)
}

func decodeHeld(b []byte) (Message, bool) {
	if len(b) < 10 {
		return Message{}, false
	}
	n := int(binary.LittleEndian.Uint16(b[8:10]))
	if len(b) < 10+n {
		return Message{}, false
	}
	return Message{Topic: string(b[10 : 10+n]), Payload: b[10+n:],
		Received: time.Unix(0, int64(binary.LittleEndian.Uint64(b[0:8])))}, true
}

// deadBudget bounds the dead-letter records per gateway with a token bucket. What goes over is counted by
// reason and written as one summary record per gateway and minute (ReasonSuppressed).
type deadBudget struct {
	rate  rate.Limit
	burst int

	mu         sync.Mutex
	limiters   map[string]*rate.Limiter
	suppressed map[string]map[Reason]int
}

func newDeadBudget(perSecond float64, burst int) deadBudget {
	return deadBudget{rate: rate.Limit(perSecond), burst: burst, limiters: map[string]*rate.Limiter{},
		suppressed: map[string]map[Reason]int{}}
}

// take returns how many of the rejections (from the first) may be stored one by one, and counts the rest.
func (d *deadBudget) take(gw string, rejs []Rejection, now time.Time) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	l, ok := d.limiters[gw]
	if !ok {
		if len(d.limiters) > 100_000 { // ids are checked, but a flood of made-up ones must not grow memory forever
			clear(d.limiters)
		}
		l = rate.NewLimiter(d.rate, d.burst)
		d.limiters[gw] = l
	}
	allowed := 0
	for allowed < len(rejs) && l.AllowN(now, 1) {
		allowed++
	}
	if allowed < len(rejs) {
		s := d.suppressed[gw]
		if s == nil {
			s = map[Reason]int{}
			d.suppressed[gw] = s
		}
		for _, r := range rejs[allowed:] {
			s[r.Reason]++
		}
	}
	return allowed
}

// summaries returns one record per gateway whose rejections went over its budget since the last call.
func (d *deadBudget) summaries(now time.Time) []DeadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []DeadLetter
	for gw, s := range d.suppressed {
		total := 0
		reasons := make([]string, 0, len(s))
		for r, n := range s {
			total += n
			reasons = append(reasons, fmt.Sprintf("%s×%d", r, n))
		}
		sort.Strings(reasons)
		topic := ""
		if gw != "" {
			topic = TopicReadings + gw
		}
		out = append(out, DeadLetter{ReceivedAt: now, GatewayID: gw, Topic: topic, Reason: ReasonSuppressed,
			Detail: fmt.Sprintf("%d more rejected readings or messages of this gateway were not stored one by one "+
				"(limit %g per second, %d at once): %s", total, float64(d.rate), d.burst, strings.Join(reasons, ", "))})
	}
	clear(d.suppressed)
	return out
}
