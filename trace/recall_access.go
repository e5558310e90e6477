package trace

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
)

// canSeeRecall: staff, and the organisation that started it.
func canSeeRecall(p auth.Principal, r Recall) bool { return p.Staff() || p.OrgID == r.OrgID }

// Recall returns a recall the caller may see, with what the caller may know of other organisations' lots.
// Errors: NotFound.
func (s *Service) Recall(ctx context.Context, p auth.Principal, id int64) (Recall, error) {
	r, err := s.Store.Recall(ctx, id)
	if err != nil {
		return Recall{}, err
	}
	if !canSeeRecall(p, r) {
		return Recall{}, errs.E(errs.NotFound, "recall not found")
	}
	return redact(p, r), nil
}

// redact hides from a base whose lots and buyers of other organisations its recall found: it sees that they
// were exposed, not whose they are.
func redact(p auth.Principal, r Recall) Recall {
	if p.Staff() {
		return r
	}
	mine := map[string]bool{}
	for i, l := range r.Lots {
		if l.BaseOrgID == p.OrgID {
			mine[l.Code] = true
			continue
		}
		r.Lots[i] = RecallLot{LotID: 0, Product: l.Product, ProductZH: l.ProductZH, Kg: l.Kg, County: l.County, HarvestedAt: l.HarvestedAt,
			State: l.State, Exposures: l.Exposures, ExposureMinutes: l.ExposureMinutes, PeakC: l.PeakC, Redacted: true}
	}
	hs := []RecallHolder{}
	for _, h := range r.Holders {
		var own []string
		for _, c := range h.Lots {
			if mine[c] {
				own = append(own, c)
			}
		}
		if len(own) > 0 {
			h.Lots = own
			hs = append(hs, h)
		}
	}
	r.Holders = hs
	return r
}

// RecallFilter selects recalls.
type RecallFilter struct {
	OrgID  *int64
	Status RecallStatus
	Limit  int
	Offset int
	After  string // the next cursor of the previous page (pg.Page.After)
}

// PageKey is the recall's place in Recalls' order, newest first.
func (r Recall) PageKey() []any { return []any{r.ID} }

// Recalls lists the recalls the caller may see, newest first: all for staff, its own for a base.
// Errors: Forbidden for other roles.
func (s *Service) Recalls(ctx context.Context, p auth.Principal, f RecallFilter) ([]Recall, int, error) {
	switch {
	case p.Staff():
		f.OrgID = nil
	case p.Role == auth.RoleBase:
		f.OrgID = &p.OrgID
	default:
		return nil, 0, errs.E(errs.Forbidden, "recalls are for produce bases and coordinators")
	}
	rs, n, err := s.Store.Recalls(ctx, f)
	for i := range rs {
		rs[i] = redact(p, rs[i])
	}
	return rs, n, err
}

// SetRecallStatus moves a recall on: open → notified (every holder has been told; say how in the note for
// those called), notified → closed. The organisation that started it and staff may. Errors: NotFound,
// Unprocessable (status), Conflict (not the next status).
func (s *Service) SetRecallStatus(ctx context.Context, p auth.Principal, id int64, to RecallStatus, note string) (Recall, error) {
	r, err := s.Recall(ctx, p, id)
	if err != nil {
		return Recall{}, err
	}
	note = strings.TrimSpace(note)
	var fe errs.FieldErrors
	if to != RecallNotified && to != RecallClosed {
		fe.Add("status", "must be notified or closed")
	}
	if utf8.RuneCountInString(note) > 1000 {
		fe.Add("note", "must be at most 1000 characters")
	}
	if err := fe.Err(); err != nil {
		return Recall{}, err
	}
	next := map[RecallStatus]RecallStatus{RecallOpen: RecallNotified, RecallNotified: RecallClosed}[r.Status]
	if next != to {
		e := errs.E(errs.Conflict, "recall %d is %s; it can only become %s", id, r.Status, orNone(next))
		e.Fields = []errs.FieldError{{Field: "status", Message: "is not the recall's next status"}}
		return Recall{}, e
	}
	ok, err := s.Store.setRecallStatus(ctx, id, to, RecallAction{At: s.Now(), Actor: p.Actor(), Action: string(to), Note: note})
	if err != nil {
		return Recall{}, err
	}
	if !ok {
		return Recall{}, errs.E(errs.Conflict, "recall %d changed meanwhile; reload it", id)
	}
	return s.Recall(ctx, p, id)
}

func orNone(s RecallStatus) string {
	if s == "" {
		return "nothing else (it is closed)"
	}
	return string(s)
}
