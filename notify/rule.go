package notify

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

const ruleCols = `r.id, r.org_id, r.name, r.channel_id, r.alarm_kinds, r.asset_ids, r.escalate_after_s, r.then_rule_id, r.created_at, r.updated_at, o.role`

func scanRule(row pgx.Row, extra ...any) (Rule, error) {
	var r Rule
	var esc *int
	var role auth.Role
	err := row.Scan(append([]any{&r.ID, &r.OrgID, &r.Name, &r.ChannelID, &r.AlarmKinds, &r.AssetIDs, &esc, &r.ThenRuleID, &r.CreatedAt, &r.UpdatedAt, &role}, extra...)...)
	if esc != nil {
		r.escalate = time.Duration(*esc) * time.Second
		r.EscalateAfter = r.escalate.String()
	}
	r.orgStaff = auth.Principal{Role: role}.Staff()
	return r, err
}

// Rule returns a rule p sees. Errors: Forbidden, NotFound.
func (s *Service) Rule(ctx context.Context, p auth.Principal, id int64) (Rule, error) {
	if _, err := scope(p); err != nil {
		return Rule{}, err
	}
	r, err := scanRule(s.db.QueryRow(ctx, `SELECT `+ruleCols+` FROM notification_rules r JOIN orgs o ON o.id = r.org_id WHERE r.id = $1`, id))
	if err != nil {
		return Rule{}, pg.Err(err, fmt.Sprintf("rule %d", id))
	}
	if !visible(p, r.OrgID) {
		return Rule{}, errs.E(errs.NotFound, "rule %d not found", id)
	}
	return r, nil
}

// Rules lists the rules p sees (admins, coordinators: all, or one organisation's), by id. Errors: Forbidden.
func (s *Service) Rules(ctx context.Context, p auth.Principal, org int64, page pg.Page) ([]Rule, int, error) {
	all, err := scope(p)
	if err != nil {
		return nil, 0, err
	}
	if !all {
		org = p.OrgID
	}
	q := pg.Query{Cols: ruleCols, From: "notification_rules r", Joins: ` JOIN orgs o ON o.id = r.org_id`, Key: "r.id"}
	if org != 0 {
		q.Where, q.Args = []string{"r.org_id = $1"}, []any{org}
	}
	var after int64
	return pg.List(ctx, s.db, q, page, "rules", func(row pgx.Row, total *int) (Rule, error) { return scanRule(row, total) }, &after)
}

// saveRule checks a rule against its channel and its escalation chain and stores it (r.ID 0: new).
func (s *Service) saveRule(ctx context.Context, p auth.Principal, r Rule) (Rule, error) {
	if r.AlarmKinds == nil {
		r.AlarmKinds = []string{}
	}
	if r.AssetIDs == nil {
		r.AssetIDs = []string{}
	}
	fe := errs.FieldErrors{}
	if err := r.validate(); err != nil {
		fe = append(fe, errs.As(err).Fields...)
	}
	ch, err := s.Channel(ctx, p, r.ChannelID)
	switch {
	case r.ChannelID == 0:
		fe.Add("channel_id", "is required")
	case errs.Is(err, errs.NotFound):
		fe.Add("channel_id", "no channel %d", r.ChannelID)
	case err != nil:
		return Rule{}, err
	default:
		r.OrgID = ch.OrgID // a rule is its channel's organisation's
	}
	if r.ThenRuleID != nil {
		if _, err := s.Rule(ctx, p, *r.ThenRuleID); errs.Is(err, errs.NotFound) {
			fe.Add("then_rule_id", "no rule %d", *r.ThenRuleID)
		} else if err != nil {
			return Rule{}, err
		} else if r.ID != 0 && s.leadsTo(ctx, *r.ThenRuleID, r.ID) {
			fe.Add("then_rule_id", "would make the escalation go round in a circle back to this rule")
		}
	}
	if err := fe.Err(); err != nil {
		return Rule{}, err
	}
	var esc *int
	if r.escalate > 0 {
		v := int(r.escalate / time.Second)
		esc = &v
	}
	var id int64
	if r.ID == 0 {
		err = s.db.QueryRow(ctx, `INSERT INTO notification_rules (org_id, name, channel_id, alarm_kinds, asset_ids, escalate_after_s, then_rule_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, r.OrgID, r.Name, r.ChannelID, r.AlarmKinds, r.AssetIDs, esc, r.ThenRuleID).Scan(&id)
	} else {
		id = r.ID
		_, err = s.db.Exec(ctx, `UPDATE notification_rules SET org_id = $2, name = $3, channel_id = $4, alarm_kinds = $5, asset_ids = $6,
			escalate_after_s = $7, then_rule_id = $8, updated_at = now() WHERE id = $1`, r.ID, r.OrgID, r.Name, r.ChannelID, r.AlarmKinds, r.AssetIDs, esc, r.ThenRuleID)
	}
	if err != nil {
		return Rule{}, pg.Err(err, "rule")
	}
	return s.Rule(ctx, p, id)
}

// leadsTo reports whether following then_rule_id from `from` reaches `to`.
func (s *Service) leadsTo(ctx context.Context, from, to int64) bool {
	var found bool
	_ = s.db.QueryRow(ctx, `WITH RECURSIVE chain(id, depth) AS (
			SELECT $1::bigint, 0
			UNION ALL SELECT r.then_rule_id, c.depth + 1 FROM notification_rules r JOIN chain c ON r.id = c.id
			WHERE r.then_rule_id IS NOT NULL AND c.depth < 50)
		SELECT EXISTS (SELECT 1 FROM chain WHERE id = $2)`, from, to).Scan(&found)
	return found
}

func (in RuleInput) apply(r *Rule) {
	if in.Name != nil {
		r.Name = strings.TrimSpace(*in.Name)
	}
	if in.ChannelID != nil {
		r.ChannelID = *in.ChannelID
	}
	if in.AlarmKinds != nil {
		r.AlarmKinds = slices.Clone(*in.AlarmKinds)
	}
	if in.AssetIDs != nil {
		r.AssetIDs = slices.Clone(*in.AssetIDs)
	}
	if in.EscalateAfter != nil {
		r.EscalateAfter = strings.TrimSpace(*in.EscalateAfter)
		if r.EscalateAfter == "" {
			r.ThenRuleID = nil
		}
	}
	if in.ThenRuleID != nil {
		r.ThenRuleID = in.ThenRuleID
	}
}

// CreateRule creates a rule on a channel p sees; the rule belongs to the channel's organisation. Errors:
// Forbidden, Unprocessable naming the fields.
func (s *Service) CreateRule(ctx context.Context, p auth.Principal, in RuleInput) (Rule, error) {
	if _, err := scope(p); err != nil {
		return Rule{}, err
	}
	if in.OrgID != nil {
		var fe errs.FieldErrors
		fe.Add("org_id", "is the channel's organisation; leave it out")
		return Rule{}, fe.Err()
	}
	var r Rule
	in.apply(&r)
	return s.saveRule(ctx, p, r)
}

// UpdateRule changes a rule p sees; nil fields stay. Errors: Forbidden, NotFound, Unprocessable.
func (s *Service) UpdateRule(ctx context.Context, p auth.Principal, id int64, in RuleInput) (Rule, error) {
	r, err := s.Rule(ctx, p, id)
	if err != nil {
		return Rule{}, err
	}
	if in.OrgID != nil && *in.OrgID != r.OrgID {
		var fe errs.FieldErrors
		fe.Add("org_id", "cannot change")
		return Rule{}, fe.Err()
	}
	in.apply(&r)
	return s.saveRule(ctx, p, r)
}

// DeleteRule removes a rule p sees; rules escalating to it stop escalating. Errors: Forbidden, NotFound.
func (s *Service) DeleteRule(ctx context.Context, p auth.Principal, id int64) error {
	if _, err := s.Rule(ctx, p, id); err != nil {
		return err
	}
	_, err := s.db.Exec(ctx, `DELETE FROM notification_rules WHERE id = $1`, id)
	return pg.Err(err, "rule")
}
