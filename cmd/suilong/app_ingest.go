package main

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/worker"
	"github.com/suilong/suilong/matching"
	"github.com/suilong/suilong/trace"
)

// openIngest builds ingest's use cases and, where this process runs them, its pipeline, rules and watcher.
func (m *Main) openIngest() error {
	m.Ingest.Pub = m.publisher
	role, runs := m.Options.ingestRole()
	if !runs {
		return nil
	}
	c := m.Cfg
	cfg := c.Ingest.service(c)
	cfg.Role = role
	cfg.StopTimeout = m.Options.DrainTimeout
	var err error
	if cfg.TLS, err = c.Broker.clientTLS(); err != nil {
		return err
	}
	// Bands come from what a truck or store carries (trace's lots and their products), else the asset's own
	// band or product profile (matching's products). Every look-up of ingest goes through its own pool; the
	// rules' leadership holds a connection of the main one (held from its start, it cannot be starved, and it
	// leaves ingest's small pool whole).
	db := m.ingestDB()
	m.ingestBands = bandSource{trace.NewStore(db)}
	d := worker.Deps{Log: m.Log.With("area", "ingest"), DB: db, Influx: m.Influx, Registry: m.Registry,
		Products: productProfiles{matching.NewStore(db)}, Bands: m.ingestBands, Publisher: m.publisher,
		Store: ingest.NewStore(db), Readings: m.Readings, Pool: m.DB}
	if m.Broker != nil {
		d.Broker, d.Source = m.Broker.Server(), m.source
		cfg.MQTTURL = ""
	}
	if m.Worker, err = worker.New(cfg, d); err != nil {
		return err
	}
	if m.Worker.Pipeline != nil { // the processes that store readings
		m.Latest = ingest.NewLatest(db, m.Registry, m.Log.With("area", "ingest"))
		m.Worker.Pipeline.Latest = m.Latest
		m.Late = ingest.NewLate(lateReadings{m.Trace}, lateHorizon(c.Trace.Settle), m.Registry, m.Log.With("area", "ingest"))
		m.Worker.Pipeline.Late = m.Late
	}
	return nil
}

// ingestDB is the pool ingest's look-ups and writes use: its own, or the main one.
func (m *Main) ingestDB() *pgxpool.Pool {
	if m.IngestDB != nil {
		return m.IngestDB
	}
	return m.DB
}

// sensorChanged makes this process's ingest look the sensor up again after the API changed it.
func (m *Main) sensorChanged(id string) {
	if m.Worker != nil {
		m.Worker.Cache.Invalidate(id)
	}
}

// gatewayChanged reloads the gateways' credentials of this process's broker, which disconnects a gateway whose
// credentials were reset or deleted.
func (m *Main) gatewayChanged(string) {
	if m.gatewayAuth == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = m.gatewayAuth.Refresh(ctx)
}
