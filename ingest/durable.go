package ingest

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	"github.com/suilong/suilong/ingest/spool"
)

// write makes a batch durable, then acknowledges its messages. Nothing is acknowledged unless every reading of
// the batch is in InfluxDB or the spool (or, refused by InfluxDB, in the dead letter), every dead letter is in
// PostgreSQL or its spool, and every held reading is in the registry-wait spool.
func (p *Pipeline) write(b *batch) {
	defer func() {
		<-p.slots
		p.writes.Done()
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}()
	if len(b.lines) > 0 {
		refused, ok := p.writeReadings(b)
		if !ok {
			return // not durable: leave the messages unacknowledged, the broker delivers them again
		}
		b.dead = append(b.dead, p.refusedDeadLetters(refused)...)
	}
	if len(b.dead) > 0 && !p.writeDead(b.dead) {
		return
	}
	if len(b.held) > 0 && !p.hold(b.held) {
		return
	}
	for _, ack := range b.acks {
		ack()
	}
	if p.Latest != nil {
		p.Latest.Note(b.lines)
	}
	now := p.Now()
	for _, ts := range b.newest {
		p.m.DelaySeconds.Observe(max(0, float64(now.UnixNano()-ts)/1e9))
	}
	if p.OnDurable != nil {
		p.OnDurable(b.newest, now)
	}
}

// writeReadings makes a batch's readings durable: in InfluxDB, or in the spool. While the spool holds anything,
// or InfluxDB is presumed away after a failure, new batches go to the spool so that replay keeps the order of
// arrival. It returns the lines InfluxDB refused, and false when the batch could not be made durable before the
// stop's time ran out.
func (p *Pipeline) writeReadings(b *batch) ([]refusedLine, bool) {
	p.m.BatchReadings.Observe(float64(b.n))
	for attempt := 0; ; attempt++ {
		if p.spool.Empty() && !p.influxAway() {
			start := p.Now()
			refused, err := p.storeLines(p.stopCtx, b.lines)
			if err == nil {
				p.m.WriteSeconds.Observe(p.Now().Sub(start).Seconds())
				p.m.writtenDirect.Add(float64(b.n - len(refused)))
				p.writeSucceeded()
				if p.Late != nil {
					p.Late.Note(b.lines)
				}
				return refused, true
			}
			p.writeFailed(err, "spooling readings locally", b.n)
		}
		err := p.spool.Append(b.lines)
		if err == nil {
			p.m.Spooled.Add(float64(b.n))
			return nil, true
		}
		if errors.Is(err, spool.ErrFull) {
			p.m.SpoolFull.Inc()
			if last := p.fullLog.Load(); p.Now().UnixNano()-last > int64(10*time.Second) {
				p.fullLog.Store(p.Now().UnixNano())
				st := p.spool.Stats()
				p.log.Error("ingest: spool is full and InfluxDB is away; ingest is paused, messages stay unacknowledged at the broker",
					"spool_bytes", st.Bytes, "max_bytes", st.MaxBytes)
			}
		} else {
			p.log.Error("ingest: cannot append to the spool", "err", err)
		}
		if !p.pause(attempt) {
			return nil, false
		}
	}
}

// pause waits before another attempt to make something durable; false once the stop's time is up.
func (p *Pipeline) pause(attempt int) bool {
	t := time.NewTimer(min(time.Duration(attempt+1)*200*time.Millisecond, 2*time.Second))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.stopCtx.Done():
		return false
	}
}

// refusedLine is a line InfluxDB refused on its own, with what InfluxDB said about it.
type refusedLine struct {
	line   []byte
	detail string
}

// storeLines writes lines to InfluxDB. When InfluxDB refuses data (a field type conflict, an unparseable line:
// what it answers with 400 or 422, possibly after writing the rest), or finds the request too large (413), the
// lines are split in halves and written again, down to the single lines it refuses, which are returned; points
// written twice overwrite themselves. Any other failure is returned: the lines must be kept and tried again.
func (p *Pipeline) storeLines(parent context.Context, lines []byte) ([]refusedLine, error) {
	ctx, cancel := context.WithTimeout(parent, p.cfg.WriteTimeout)
	err := p.writer.WriteLines(ctx, lines)
	cancel()
	if err == nil {
		return nil, nil
	}
	p.m.WriteFailures.WithLabelValues(writeStatus(err)).Inc()
	refused, tooLarge := errors.Is(err, ErrRejected), errors.Is(err, ErrTooLarge)
	if !refused && !tooLarge {
		return nil, err
	}
	mid := splitPoint(lines)
	if mid <= 0 {
		if refused {
			detail := err.Error()
			if we := (*WriteError)(nil); errors.As(err, &we) {
				detail = "(" + we.Status + ") " + we.Err.Error()
			}
			return []refusedLine{{line: lines, detail: detail}}, nil
		}
		return nil, err // one line larger than InfluxDB takes: keep it until its limit is raised
	}
	if tooLarge {
		p.log.Info("ingest: InfluxDB found a write too large; splitting it", "bytes", len(lines))
	}
	first, err := p.storeLines(parent, lines[:mid])
	if err != nil {
		return nil, err
	}
	second, err := p.storeLines(parent, lines[mid:])
	if err != nil {
		return nil, err
	}
	return append(first, second...), nil
}

// splitPoint is the start of the line nearest the middle of lines, or 0 for a single line.
func splitPoint(lines []byte) int {
	half := len(lines) / 2
	if i := bytes.IndexByte(lines[half:], '\n'); i >= 0 && half+i+1 < len(lines) {
		return half + i + 1
	}
	if i := bytes.LastIndexByte(lines[:half], '\n'); i >= 0 {
		return i + 1
	}
	return 0
}

// refusedDeadLetters turns refused lines into dead letters, one per reading, each with the reading's whole
// JSON read back from its line (the message it came in may be long acknowledged, replayed from the spool).
func (p *Pipeline) refusedDeadLetters(refused []refusedLine) []DeadLetter {
	if len(refused) == 0 {
		return nil
	}
	now := p.Now()
	out := make([]DeadLetter, 0, len(refused))
	for _, r := range refused {
		d := DeadLetter{ReceivedAt: now, Reason: ReasonStorageRejected, Detail: "InfluxDB refused this reading: " + r.detail}
		if lr, ok := ParseLine(r.line); ok {
			d.GatewayID, d.SensorID, d.Payload = lr.GatewayID, lr.SensorID, cleanText(lr.JSON)
			d.Topic = TopicReadings + lr.GatewayID
		} else {
			d.Payload = cleanText(bytes.TrimRight(r.line, "\n"))
		}
		out = append(out, d)
		p.m.Rejected.WithLabelValues(string(ReasonStorageRejected)).Inc()
	}
	p.log.Error("ingest: InfluxDB refused readings; they go to the dead letter", "readings", len(out), "detail", refused[0].detail)
	return out
}

// influxAway reports whether InfluxDB is presumed away after recent failures (batches then go to the spool
// without trying it, and the replay finds out when it is back).
func (p *Pipeline) influxAway() bool {
	h := &p.health
	h.mu.Lock()
	defer h.mu.Unlock()
	return p.Now().Before(h.until)
}

// writeFailed notes a failed write: InfluxDB is presumed away for a backoff that doubles with each failure in
// a row (1 s to 5 s; batches meanwhile go straight to the spool, whose replay tries again), and readiness
// reports it.
func (p *Pipeline) writeFailed(err error, what string, readings int) {
	h := &p.health
	now := p.Now()
	h.mu.Lock()
	first := h.since.IsZero()
	if first {
		h.since = now
	}
	h.status, h.err = writeStatus(err), err
	h.backoff = min(max(2*h.backoff, time.Second), 5*time.Second)
	h.until = now.Add(h.backoff)
	status, backoff := h.status, h.backoff
	h.mu.Unlock()
	p.m.InfluxUp.Set(0)
	p.log.Warn("ingest: InfluxDB write failed; "+what, "status", status, "readings", readings, "retry_in", backoff, "err", err)
}

func (p *Pipeline) writeSucceeded() {
	h := &p.health
	h.mu.Lock()
	since := h.since
	h.since, h.status, h.err, h.backoff, h.until = time.Time{}, "", nil, 0, time.Time{}
	h.mu.Unlock()
	p.m.InfluxUp.Set(1)
	if !since.IsZero() {
		p.log.Info("ingest: InfluxDB takes writes again", "failing_for", p.Now().Sub(since).Round(time.Millisecond))
	}
}

func (p *Pipeline) writeDead(ds []DeadLetter) bool {
	for attempt := 0; ; attempt++ {
		if p.deadSpool.Empty() {
			ctx, cancel := context.WithTimeout(p.stopCtx, p.cfg.WriteTimeout)
			err := p.dead.InsertDeadLetters(ctx, ds)
			cancel()
			if err == nil {
				p.m.DeadLetters.Add(float64(len(ds)))
				return true
			}
			p.log.Warn("ingest: could not store dead letters; spooling them locally", "records", len(ds), "err", err)
		}
		data, _ := json.Marshal(ds)
		err := p.deadSpool.Append(data)
		if err == nil {
			return true
		}
		p.log.Error("ingest: cannot spool dead letters", "err", err)
		if !p.pause(attempt) {
			return false
		}
	}
}

// hold keeps readings whose sensor the registry could not be asked about, in one spool record, until the
// registry answers again (replayHeld).
func (p *Pipeline) hold(recs [][]byte) bool {
	size := 0
	for _, r := range recs {
		size += 4 + len(r)
	}
	data := make([]byte, 0, size)
	for _, r := range recs {
		data = binary.LittleEndian.AppendUint32(data, uint32(len(r)))
		data = append(data, r...)
	}
	for attempt := 0; ; attempt++ {
		err := p.holdSpool.Append(data)
		if err == nil {
			p.log.Warn("ingest: readings of sensors the cache does not know are held until the registry (PostgreSQL) answers",
				"readings", len(recs))
			return true
		}
		p.log.Error("ingest: cannot hold readings for the registry", "err", err)
		if !p.pause(attempt) {
			return false
		}
	}
}

// splitHeld is the inverse of hold's record.
func splitHeld(data []byte) ([][]byte, bool) {
	var out [][]byte
	for len(data) > 0 {
		if len(data) < 4 {
			return out, false
		}
		n := int(binary.LittleEndian.Uint32(data))
		if n > len(data)-4 {
			return out, false
		}
		out = append(out, data[4:4+n])
		data = data[4+n:]
	}
	return out, true
}
