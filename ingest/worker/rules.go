package worker

import (
	"context"
	"time"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/mqttsub"
	"github.com/suilong/suilong/ingest/rules"
	"github.com/suilong/suilong/internal/pg"
)

// RulesLock names the advisory lock whose holder runs the cold-chain rules.
const RulesLock = "suilong.rules"

// Leader reports whether this process runs the rules now (RoleRules), or always does (RoleAll).
func (s *Worker) Leader() bool { return s.cfg.Role == RoleAll || s.leader.Load() }

// runRules is the rules role: wait for the leadership, run the rules while holding it, stand by again when it
// is lost, until ctx ends. One owner per sensor at a time is what makes the alarms those one process would
// raise, whatever the broker's distribution of readings among the ingest workers.
func (s *Worker) runRules(ctx context.Context) error {
	close(s.ready)
	for {
		s.log.Info("ingest: standing by for the rules' leadership")
		lead, err := pg.Lead(ctx, s.deps.Pool, RulesLock, 2*time.Second)
		if err != nil {
			return nil // ctx ended
		}
		s.leader.Store(true)
		s.Metrics.RulesLeader.Set(1)
		s.log.Info("ingest: this process now runs the cold-chain rules")
		lost := s.rulesSession(ctx, lead.Lost())
		s.leader.Store(false)
		s.Metrics.RulesLeader.Set(0)
		_ = lead.Release()
		if !lost {
			return nil
		}
		s.log.Warn("ingest: lost the rules' leadership (its PostgreSQL session ended); standing by")
	}
}

// rulesSession runs the rules from the saved state until ctx ends (false) or the leadership is lost (true).
// Each session starts from PostgreSQL's state, not from this process's memory: another process may have
// led in between.
func (s *Worker) rulesSession(ctx context.Context, lost <-chan struct{}) bool {
	log := s.log
	eng := rules.New(s.cfg.Rules)
	p := ingest.NewPipeline(s.cfg.Pipeline, ingest.PipelineDeps{Log: log, Metrics: s.Metrics, Cache: s.Cache, Bands: s.bands, Rules: eng})
	w := ingest.NewWatcher(s.cfg.Watcher, ingest.WatcherDeps{Rules: eng, Store: s.Store, Readings: s.Readings, Pub: s.Publisher,
		Cache: s.Cache, Bands: s.bands, Metrics: s.Metrics, Log: log})
	// What the previous leader acknowledged but had not saved comes back from InfluxDB (Restore's catch-up),
	// once the ingest workers have written it.
	select {
	case <-time.After(s.cfg.TakeoverDelay):
	case <-ctx.Done():
		return false
	}
	if err := w.Restore(ctx); err != nil {
		log.Warn("ingest: rules could not restore all of their state", "err", err)
	}
	pctx, stopPipeline := context.WithCancel(context.WithoutCancel(ctx))
	pdone := make(chan struct{})
	go func() {
		defer close(pdone)
		_ = p.Run(pctx)
	}()
	// Not shared: the rules see every reading, while the ingest workers split them among themselves.
	sub := mqttsub.NewSubscriber(mqttsub.SubscriberConfig{URL: s.cfg.MQTTURL, ClientID: s.cfg.RulesClientID, Username: s.cfg.Username,
		Password: s.cfg.Password, TLS: s.cfg.TLS, Log: log}, p.Submit)
	sctx, stopSource := context.WithCancel(context.WithoutCancel(ctx))
	sdone := make(chan struct{})
	go func() {
		defer close(sdone)
		if err := sub.Run(sctx); err != nil {
			log.Error("ingest: the rules' subscriber stopped", "err", err)
		}
	}()
	wctx, stopWatcher := context.WithCancel(context.WithoutCancel(ctx))
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		_ = w.Run(wctx)
	}()
	wasLost := false
	select {
	case <-ctx.Done():
	case <-lost:
		wasLost = true
		w.Abandon() // the next leader writes the state from now on
	}
	stopSource() // what was not acknowledged, the broker keeps for the next session
	<-sdone
	stopPipeline()
	<-pdone
	stopWatcher() // its last store of the alarms and save of the state, unless abandoned
	<-wdone
	return wasLost
}
