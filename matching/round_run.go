package matching

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
	// rule, when set by before, is the price rule read under the round's claim (a change of the round that
	// raced the close cannot make the run price by a rule the round no longer has).
	rule   *PriceRule
	before func(ctx context.Context, tx pgx.Tx) error
	// dueAfter, when set, leaves out the demands whose deliver_by is not after it (a follow-up run days after
	// the close must not propose a delivery nobody can make any more); they are listed unmatched with
	// ReasonDeliveryPassed.
	dueAfter *time.Time
}

// ReasonDeliveryPassed is the unmatched reason of a demand a follow-up run left out because its deliver_by had
// passed when the run started.
const ReasonDeliveryPassed = "delivery_passed"

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
	// The run records the round's answer deadline and price rule, read inside the claim (the run's row is
	// written after it).
	var answerBy time.Time
	var rule PriceRule
	sc := poolScope{round: &id, answerBy: &answerBy, rule: &rule}
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
		answerBy, rule = closeDeadline(r, now), r.PriceRule
		if answerBy.After(r.AnswerBy) {
			slog.Warn("matching: a round closed late; its answer window starts now, not at its planned close",
				"round", id, "closes_at", r.ClosesAt, "answer_by", r.AnswerBy, "now_answer_by", answerBy)
		}
		_, err = s.makeStandingDemands(ctx, tx, r)
		return err
	}
	run, err := s.startRun(ctx, scheduler, RunOptions{}, sc)
	if err == nil {
		s.m.roundRuns.WithLabelValues("close").Inc()
	}
	return run, err
}

// closeDeadline is the answer deadline of a round's run at its close: the round's, unless the close comes
// more than lateClose after closes_at (every process was down) with less than half the round's answer window
// left, when both sides get the whole window from now — otherwise the sweep that follows the close could lapse
// every allocation before anyone saw it. A close a tick or two late keeps the round's deadline, as its people
// were told.
func closeDeadline(r Round, now time.Time) time.Time {
	window := r.AnswerBy.Sub(r.ClosesAt)
	if now.Sub(r.ClosesAt) > lateClose && r.AnswerBy.Sub(now) < window/2 {
		return now.Add(window)
	}
	return r.AnswerBy
}

// lateClose is how late a close must come to count as an outage rather than the scheduler's tick.
const lateClose = time.Minute

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
	sc := poolScope{round: &id, answerBy: &answerBy, dueAfter: &now}
	// The allocations whose answer deadline has passed give their kilograms back before the pool is read, even
	// when the sweep has not marked them yet: the follow-up is for exactly those kilograms.
	sc.before = func(ctx context.Context, tx pgx.Tx) error {
		_, err := s.lapse(ctx, tx, now, &id)
		return err
	}
	run, err := s.startRun(ctx, p, RunOptions{PriceRule: f.PriceRule}, sc)
	if err == nil {
		s.m.roundRuns.WithLabelValues("follow_up").Inc()
	}
	return run, err
}

// LapseAllocations ends the allocations still proposed when their run's answer deadline has passed by now:
// they become lapsed and their kilograms return to the pool. The UPDATE is its own guard, so any number of
// processes may sweep at once. It returns how many lapsed.
func (s *Store) LapseAllocations(ctx context.Context, now time.Time) (int64, error) {
	return s.lapse(ctx, s.db, now, nil)
}

// lapse is LapseAllocations on db, for the runs of one round when round is set.
func (s *Store) lapse(ctx context.Context, db pg.DB, now time.Time, round *int64) (int64, error) {
	tag, err := db.Exec(ctx, `UPDATE allocations a SET status = 'lapsed' FROM matching_runs m
		WHERE m.id = a.run_id AND m.answer_by IS NOT NULL AND m.answer_by <= $1 AND a.status = 'proposed'
		AND ($2::bigint IS NULL OR m.round_id = $2)`, now, round)
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
