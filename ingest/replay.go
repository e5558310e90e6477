package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/suilong/suilong/ingest/spool"
)

// replay drains a spool in order, backing off while the destination is away.
func (p *Pipeline) replay(ctx context.Context, name string, sp *spool.Spool, store func(context.Context, []spool.Record) error) {
	backoff := 250 * time.Millisecond
	for {
		if sp.Empty() {
			if !sleepCtx(ctx, 250*time.Millisecond) {
				return
			}
			continue
		}
		recs, err := sp.Peek(64, 8<<20)
		if err == nil && len(recs) == 0 {
			// The spool counts records it cannot give: never spin on that.
			err = errors.New("the spool reports records but yields none")
		}
		if err == nil {
			err = store(ctx, recs)
			if err == nil {
				err = sp.Commit(recs)
			}
		}
		if err == nil {
			backoff = 250 * time.Millisecond
			continue
		}
		p.log.Debug("ingest: replay of a spool failed; backing off", "spool", name, "retry_in", backoff, "err", err)
		if !sleepCtx(ctx, backoff) {
			return
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (p *Pipeline) replayReadings(ctx context.Context, recs []spool.Record) error {
	var buf []byte
	if len(recs) == 1 {
		buf = recs[0].Data
	} else {
		for _, r := range recs {
			buf = append(buf, r.Data...)
		}
	}
	n := bytes.Count(buf, []byte{'\n'})
	refused, err := p.storeLines(ctx, buf)
	if err != nil {
		p.writeFailed(err, "the spool keeps the readings", n)
		return err
	}
	p.writeSucceeded()
	if p.Late != nil {
		p.Late.Note(buf)
	}
	if len(refused) > 0 && !p.writeDead(p.refusedDeadLetters(refused)) {
		return errors.New("stopping before the refused readings were in the dead letter")
	}
	p.m.writtenSpool.Add(float64(n - len(refused)))
	return nil
}

func (p *Pipeline) replayDead(ctx context.Context, recs []spool.Record) error {
	var all []DeadLetter
	for _, r := range recs {
		var ds []DeadLetter
		if err := json.Unmarshal(r.Data, &ds); err != nil {
			p.log.Error("ingest: unreadable dead letters in the spool; skipped", "err", err)
			continue
		}
		all = append(all, ds...)
	}
	if err := p.dead.InsertDeadLetters(ctx, all); err != nil {
		return err
	}
	p.m.DeadLetters.Add(float64(len(all)))
	return nil
}

// replayHeld admits the held readings again once the registry answers: each comes back as the single-reading
// message it was part of, and its spool record is committed only when all of them are durable (or, for a
// sensor the registry does not know, dead-lettered; or held again).
func (p *Pipeline) replayHeld(ctx context.Context) {
	backoff := time.Second
	for {
		if p.holdSpool.Empty() {
			if !sleepCtx(ctx, time.Second) {
				return
			}
			continue
		}
		// A full reload proves the registry answers and teaches the cache the sensors the readings need.
		if err := p.cache.Refresh(ctx); err != nil {
			if !sleepCtx(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, 30*time.Second)
			continue
		}
		backoff = time.Second
		recs, err := p.holdSpool.Peek(16, 4<<20)
		if err != nil || len(recs) == 0 {
			p.log.Warn("ingest: cannot read held readings", "err", err)
			if !sleepCtx(ctx, 5*time.Second) {
				return
			}
			continue
		}
		var msgs []Message
		for _, r := range recs {
			entries, ok := splitHeld(r.Data)
			if !ok {
				p.log.Error("ingest: a damaged record of held readings; its readable part is admitted", "readings", len(entries))
			}
			for _, e := range entries {
				if m, ok := decodeHeld(e); ok {
					msgs = append(msgs, m)
				}
			}
		}
		acked := make(chan struct{}, len(msgs))
		submitted := 0
		for _, m := range msgs {
			m.Ack = func() { acked <- struct{}{} }
			if !p.Submit(m) {
				return // stopping: the records stay in the spool
			}
			submitted++
		}
		for range submitted {
			select {
			case <-acked:
			case <-ctx.Done():
				return
			}
		}
		if err := p.holdSpool.Commit(recs); err != nil {
			p.log.Error("ingest: cannot commit replayed held readings (they will be admitted again)", "err", err)
		} else {
			p.log.Info("ingest: held readings admitted now that the registry answers", "readings", len(msgs))
		}
	}
}
