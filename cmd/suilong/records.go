package main

import (
	"context"
	"time"

	"github.com/suilong/suilong/api"
	"github.com/suilong/suilong/api/recallapi"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/matching"
	"github.com/suilong/suilong/trace"
	"github.com/suilong/suilong/trace/epcisschema"
)

// Recall and records: the parts of Main that recalls, the compliance record, retention and EPCIS capture add.

// wireRecords plugs into trace what recalls and records need of the other areas.
func (m *Main) wireRecords() {
	t := m.Trace
	t.Alarms = alarmsAdapter{m.IngestStore}
	t.OrderBook = orderBook{m.Matching}
	t.Contacts = contactsAdapter{m.Auth}
	t.Raw = m.Readings
	t.Retention = trace.Retention{Records: m.Cfg.Trace.Retention}
	// t.Notifier: the notification channels' adapter, once the notify area offers one.
}

// recordModules are the HTTP modules of recalls.
func (m *Main) recordModules() []api.Module {
	return []api.Module{recallapi.New(recallapi.Deps{Service: m.Trace, Site: m.Web})}
}

// epcisSchema compiles GS1's schema for EPCIS capture (SUILONG_EPCIS_SCHEMA, else the checkout's shared
// folder); nil, with a warning, when there is none: capture is then off.
func (m *Main) epcisSchema() *epcisschema.Schema {
	p := m.Cfg.Trace.EPCISSchema
	if p == "" {
		var err error
		if p, err = epcisschema.Find(); err != nil {
			m.Log.Warn("trace: EPCIS capture is off: GS1's schema not found", "err", err)
			return nil
		}
	}
	s, err := epcisschema.Load(p)
	if err != nil {
		m.Log.Warn("trace: EPCIS capture is off: GS1's schema does not load", "path", p, "err", err)
		return nil
	}
	return s
}

// longestShelfLife is the longest shelf life of the registered products (matching's profiles).
func (m *Main) longestShelfLife(ctx context.Context) (time.Duration, error) {
	var longest int
	// Every page by cursor, to a short one (totals are counted only up to pg.CountCap).
	for page := (matching.Page{Limit: pg.MaxLimit}); ; {
		ps, _, err := m.Matching.Products(ctx, page)
		if err != nil {
			return 0, err
		}
		for _, p := range ps {
			longest = max(longest, p.ShelfLifeHours)
		}
		if len(ps) < pg.MaxLimit {
			break
		}
		page.After = pg.Cursor(ps[len(ps)-1].PageKey()...)
	}
	return time.Duration(longest) * time.Hour, nil
}

// ensureInfluxRetention makes InfluxDB keep readings as long as the longest-lived record needs them. A failure
// is logged, not fatal: readings are only ever kept longer by it, never shorter.
func (m *Main) ensureInfluxRetention(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	shelf, err := m.longestShelfLife(ctx)
	if err != nil {
		m.Log.Warn("records: could not read the products' shelf lives; InfluxDB's retention left as it is", "err", err)
		return
	}
	need := m.Trace.Retention.InfluxRetention(shelf)
	did, err := m.Influx.EnsureRetention(ctx, need)
	switch {
	case err != nil:
		m.Log.Warn("records: InfluxDB's retention not checked", "need", need, "err", err)
	case did != "":
		m.Log.Info("records: InfluxDB retention: "+did, "need", need)
	}
}

// purgeEvery is how often the purge looks for records past their retention.
const purgeEvery = 6 * time.Hour
