package matching

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// poolScope is the pool a run matches: the open pool (offers and demands of no round), or one round's, with
// steps the run takes inside its transaction before it reads the pool.
type poolScope struct {
	round    *int64
	answerBy *time.Time
	before   func(ctx context.Context, tx pgx.Tx) error
}

// where is the condition on offers or demands t that keeps the scope's, and its argument ($1).
func (sc poolScope) where() (func(t string) string, []any) {
	if sc.round == nil {
		return func(t string) string { return t + ".round_id IS NULL" }, nil
	}
	return func(t string) string { return t + ".round_id = $1" }, []any{*sc.round}
}

// scheduler is the principal of runs the rounds' scheduler starts; it has no organisation.
var scheduler = auth.Principal{Role: auth.RoleAdmin, OrgName: "round scheduler"}

// CloseDueRounds runs every open round whose close has come by now, each in one transaction that claims the
// round (open → closed), turns the standing demands that fit it into demands in it and runs its pool. Whatever
// the number of processes calling it, each round runs once: a second claim waits for the first transaction
// and then finds the round closed. It returns the runs it made.
func (s *Store) CloseDueRounds(ctx context.Context, now time.Time) ([]Run, error) {
	ids, err := collect(ctx, s.db, "rounds", func(r pgx.Row) (id int64, err error) { return id, r.Scan(&id) },
		`SELECT id FROM rounds WHERE status = 'open' AND closes_at <= $1 ORDER BY closes_at, id LIMIT 100`, now)
	if err != nil {
		return nil, err
	}
	// A round whose run fails (tried again at the next call) does not hold up the rounds after it.
	var runs []Run
	var failed []error
	for _, id := range ids {
		run, err := s.closeRound(ctx, id, now)
		switch {
		case errors.Is(err, errNotDue):
		case err != nil:
			failed = append(failed, fmt.Errorf("round %d: %w", id, err))
		default:
			runs = append(runs, run)
		}
		if ctx.Err() != nil {
			break
		}
	}
	return runs, errors.Join(failed...)
}

func (s *Store) closeRound(ctx context.Context, id int64, now time.Time) (Run, error) {
	rule, err := s.roundPriceRule(ctx, id)
	if err != nil {
		return Run{}, err
	}
	// The run records the round's answer deadline, read inside the claim (the run's row is written after it).
	var answerBy time.Time
	sc := poolScope{round: &id, answerBy: &answerBy}
	sc.before = func(ctx context.Context, tx pgx.Tx) error {
		// The claim: only the transaction that moves the round from open to closed runs it.
		tag, err := tx.Exec(ctx, `UPDATE rounds SET status = 'closed', closed_at = $2, version = version + 1, updated_at = now()
			WHERE id = $1 AND status = 'open' AND closes_at <= $2`, id, now)
		if err != nil {
			return pg.Err(err, "round")
		}
		if tag.RowsAffected() == 0 {
			return errNotDue
		}
		r, err := s.getRound(ctx, tx, id, false)
		if err != nil {
			return err
		}
		answerBy = r.AnswerBy
		_, err = s.makeStandingDemands(ctx, tx, r)
		return err
	}
	run, err := s.startRun(ctx, scheduler, RunOptions{PriceRule: rule}, sc)
	if err == nil {
		s.m.roundRuns.WithLabelValues("close").Inc()
	}
	return run, err
}

func (s *Store) roundPriceRule(ctx context.Context, id int64) (PriceRule, error) {
	var rule PriceRule
	err := s.db.QueryRow(ctx, `SELECT price_rule FROM rounds WHERE id = $1`, id).Scan(&rule)
	return rule, notFoundAs(pg.Err(err, "round"), "round", id)
}

// FollowUp is a coordinator's follow-up run of a closed round, over what its runs left: the available
// kilograms of its offers and demands (declined and lapsed allocations returned theirs). AnswerBy defaults to
// now plus the round's own answer window.
type FollowUp struct {
	PriceRule PriceRule  `json:"price_rule"`
	AnswerBy  *time.Time `json:"answer_by"`
}

// RunRound starts a follow-up run of a round. Errors: Forbidden (staff only), NotFound, Conflict (the round
// has not closed yet, or was cancelled), Unprocessable.
func (s *Store) RunRound(ctx context.Context, p auth.Principal, id int64, f FollowUp) (Run, error) {
	if !p.Staff() {
		return Run{}, forbidden("only coordinators start matching runs")
	}
	r, err := s.getRound(ctx, s.db, id, false)
	if err != nil {
		return Run{}, err
	}
	if r.Status != RoundClosed {
		return Run{}, errs.E(errs.Conflict, "round %d is %s: a follow-up run is for a round whose run at the close is done", id, r.Status)
	}
	if f.PriceRule == "" {
		f.PriceRule = r.PriceRule
	}
	now := s.Now()
	answerBy := now.Add(r.AnswerBy.Sub(r.ClosesAt))
	if f.AnswerBy != nil {
		if !f.AnswerBy.After(now) {
			var fe errs.FieldErrors
			fe.Add("answer_by", "must be in the future")
			return Run{}, fe.Err()
		}
		answerBy = *f.AnswerBy
	}
	run, err := s.startRun(ctx, p, RunOptions{PriceRule: f.PriceRule}, poolScope{round: &id, answerBy: &answerBy})
	if err == nil {
		s.m.roundRuns.WithLabelValues("follow_up").Inc()
	}
	return run, err
}

// LapseAllocations ends the allocations still proposed when their run's answer deadline has passed by now:
// they become lapsed and their kilograms return to the pool. The UPDATE is its own guard, so any number of
// processes may sweep at once. It returns how many lapsed.
func (s *Store) LapseAllocations(ctx context.Context, now time.Time) (int64, error) {
	tag, err := s.db.Exec(ctx, `UPDATE allocations a SET status = 'lapsed' FROM matching_runs m
		WHERE m.id = a.run_id AND m.answer_by IS NOT NULL AND m.answer_by <= $1 AND a.status = 'proposed'`, now)
	if err != nil {
		return 0, pg.Err(err, "allocations")
	}
	n := tag.RowsAffected()
	s.m.lapsed.Add(float64(n))
	return n, nil
}

// lapsedNow reports whether allocation a's run's answer deadline has passed: an answer after it comes too late,
// whether or not the sweep has marked the allocation yet.
func (s *Store) lapsedNow(ctx context.Context, db pg.DB, a Allocation) (bool, error) {
	var by *time.Time
	if err := db.QueryRow(ctx, `SELECT answer_by FROM matching_runs WHERE id = $1`, a.RunID).Scan(&by); err != nil {
		return false, pg.Err(err, "run")
	}
	return by != nil && !s.Now().Before(*by), nil
}
