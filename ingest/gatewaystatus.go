package ingest

import (
	"context"
	"encoding/json"
	"time"
)

type status struct {
	gateway, state string
	at             time.Time
}

// status records a gateway's status message: {"state":"online"|"offline","ts":...}.
func (p *Pipeline) status(gw string, payload []byte, now time.Time) {
	var doc struct {
		State string          `json:"state"`
		TS    json.RawMessage `json:"ts"`
	}
	if err := json.Unmarshal(payload, &doc); err != nil || (doc.State != "online" && doc.State != "offline") {
		p.log.Debug("ingest: ignoring a malformed status message", "gateway", gw)
		return
	}
	at := now
	var d Decoder
	if len(doc.TS) > 0 {
		if rs, _ := d.Decode([]byte(`{"ts":`+string(doc.TS)+`}`), nil, nil); len(rs) == 1 && rs[0].Has&HasTS != 0 {
			at = rs[0].TS
		}
	}
	select {
	case p.statuses <- status{gw, doc.State, at}:
	default: // a status storm; the retained status will be seen again
	}
}

// statusLoop records gateway statuses and when gateways were last heard from, and writes the summaries of
// dead letters that went over a gateway's budget.
func (p *Pipeline) statusLoop(ctx context.Context) {
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	summaries := time.NewTicker(p.cfg.SummaryEvery)
	defer summaries.Stop()
	flushSeen := func() {
		p.mu.Lock()
		seen := p.seen
		p.seen = map[string]time.Time{}
		p.mu.Unlock()
		if p.gateways != nil && len(seen) > 0 {
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := p.gateways.TouchGateways(wctx, seen); err != nil {
				p.log.Debug("ingest: could not record when gateways were last seen", "err", err)
			}
			cancel()
		}
	}
	flushSummaries := func() {
		if ds := p.budget.summaries(p.Now()); len(ds) > 0 {
			p.writeDead(ds)
		}
	}
	for {
		select {
		case <-ctx.Done():
			flushSeen()
			flushSummaries()
			return
		case s := <-p.statuses:
			if p.gateways != nil {
				wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				if err := p.gateways.SetGatewayStatus(wctx, s.gateway, s.state, s.at); err != nil {
					p.log.Warn("ingest: could not record a gateway's status", "gateway", s.gateway, "err", err)
				}
				cancel()
			}
		case <-tick.C:
			flushSeen()
		case <-summaries.C:
			flushSummaries()
		}
	}
}
