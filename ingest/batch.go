package ingest

import "time"

// batch is what one write makes durable and then acknowledges: the line protocol of its messages' accepted
// readings, their dead letters, the readings held for the registry, and the messages' acks.
type batch struct {
	lines  []byte
	n      int
	msgs   int
	acks   []func()
	newest []int64
	dead   []DeadLetter
	held   [][]byte
	first  time.Time
}

// flusher starts a write whenever the current batch is ready and a write slot is free.
func (p *Pipeline) flusher(done <-chan struct{}) {
	timer := time.NewTimer(p.cfg.FlushInterval)
	defer timer.Stop()
	final := false
	for {
		select {
		case <-p.kick:
		case <-timer.C:
		case <-done:
			final, done = true, nil
		}
		for {
			b := p.take(final)
			if b == nil {
				break
			}
			p.writes.Add(1)
			go p.write(b)
		}
		if final {
			p.mu.Lock()
			empty := p.cur.msgs == 0
			p.mu.Unlock()
			if empty {
				return
			}
		}
		timer.Reset(p.cfg.Linger)
	}
}

// take swaps out the current batch when it is ready: full, old enough, or nothing else is coming (the workers
// are idle). At high load the writes in flight hold the slots, so batches grow while they wait: group commit.
func (p *Pipeline) take(final bool) *batch {
	p.mu.Lock()
	defer p.mu.Unlock()
	b := p.cur
	if b.msgs == 0 {
		return nil
	}
	age := p.Now().Sub(b.first)
	ready := final || b.n >= p.cfg.BatchSize || len(b.dead) >= 1000 || len(b.held) >= 1000 || age >= p.cfg.FlushInterval ||
		(p.pending.Load() == 0 && age >= p.cfg.Linger)
	if !ready {
		return nil
	}
	if final {
		p.slots <- struct{}{} // wait for a slot at the end
	} else {
		select {
		case p.slots <- struct{}{}:
		default:
			return nil
		}
	}
	p.cur = &batch{lines: make([]byte, 0, len(b.lines)), acks: make([]func(), 0, len(b.acks))}
	p.cond.Broadcast()
	return b
}
