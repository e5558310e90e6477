package plan

import (
	"context"
	"fmt"
	"time"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
)

// Report is the yearly summary (年度总结通报): per domain and safeguard section, what was planned for the year,
// what was done, what is late, the updates dated in the year, and the KPIs of the year.
type Report struct {
	Year      int       `json:"year"`
	AsOf      Date      `json:"as_of"`
	Generated time.Time `json:"generated_at"`
	From      time.Time `json:"from"`
	To        time.Time `json:"to"`
	// Final is true once the year is over; before that the report is an interim one (and entries still open are
	// not late yet).
	Final    bool            `json:"final"`
	Progress float64         `json:"progress"`
	Goals    []Summary       `json:"goals"`
	Sections []ReportSection `json:"sections"`
	KPIs     []KPI           `json:"kpis"`
	Planned  int             `json:"planned_entries"`
	Done     int             `json:"done_entries"`
	Late     int             `json:"late_items"`
	Updates  int             `json:"updates"`
}

// ReportSection is one domain's (or safeguard section's) part of the report.
type ReportSection struct {
	Summary
	Planned []ReportEntry `json:"planned"`
	Done    []ReportEntry `json:"done"`
	Late    []LateItem    `json:"late"`
	Updates []UpdateRef   `json:"updates"`
	KPIs    []KPI         `json:"kpis"`
}

// ReportEntry is an annual entry with its item.
type ReportEntry struct {
	Annual
	Item Summary `json:"item"`
}

// LateItem is something late, with why.
type LateItem struct {
	Item     Summary `json:"item"`
	Reason   string  `json:"reason"`
	ReasonEN string  `json:"reason_en"`
	EntryID  int64   `json:"annual_id,omitempty"`
}

// Report builds the report of a year of the plan. What is late: items not done whose target date has passed
// and fell in or before the year; and, once the year is over, the year's annual entries not marked done.
// Statuses are as they stand today (the report of a past year shows what is still outstanding from it).
// Errors: Forbidden, Unprocessable for a year outside the plan or in the future.
func (s *Service) Report(ctx context.Context, p auth.Principal, year int) (*Report, error) {
	if err := mayRead(p); err != nil {
		return nil, err
	}
	now := s.Store.Now()
	if year < FirstYear || year > LastYear || year > now.In(CST).Year() {
		return nil, &errs.Error{Code: errs.Unprocessable, Message: "no report for that year",
			Fields: []errs.FieldError{{Field: "year", Message: fmt.Sprintf("must be a year of the plan (%d–%d) that has begun", FirstYear, LastYear)}}}
	}
	pl, err := s.Store.Plan(ctx)
	if err != nil {
		return nil, err
	}
	from, to := yearBounds(year)
	r := &Report{Year: year, AsOf: pl.AsOf, Generated: now, From: from, To: to, Final: !now.Before(to), Progress: pl.Progress}
	if !r.Final {
		r.To = now
	}
	r.KPIs = s.KPIs.Measure(ctx, r.From, r.To, pl, s.Log)
	for _, g := range pl.Goals {
		r.Goals = append(r.Goals, summarize(pl, g))
	}
	entries, err := s.Store.AnnualFor(ctx, year)
	if err != nil {
		return nil, err
	}
	yearEnd := NewDate(year, 12, 31)
	ups, err := s.Store.UpdatesBetween(ctx, NewDate(year, 1, 1), yearEnd)
	if err != nil {
		return nil, err
	}
	r.Updates = len(ups)
	idx := map[string]int{}
	for _, top := range append(append([]*Item{}, pl.Domains...), pl.Safeguards...) {
		idx[top.Code] = len(r.Sections)
		r.Sections = append(r.Sections, ReportSection{Summary: summarize(pl, top), KPIs: KPIsOf(r.KPIs, pl, top),
			Planned: []ReportEntry{}, Done: []ReportEntry{}, Late: []LateItem{}, Updates: []UpdateRef{}})
	}
	sectionOf := func(code string) (*ReportSection, *Item) {
		it, ok := pl.Item(code)
		if !ok {
			return nil, nil
		}
		i, ok := idx[pl.Domain(it).Code]
		if !ok {
			return nil, nil // a goal's entries have no section
		}
		return &r.Sections[i], it
	}
	for _, a := range entries {
		sec, it := sectionOf(a.Code)
		if sec == nil {
			continue
		}
		e := ReportEntry{Annual: a, Item: summarize(pl, it)}
		sec.Planned = append(sec.Planned, e)
		r.Planned++
		if a.Done {
			sec.Done = append(sec.Done, e)
			r.Done++
		} else if r.Final {
			sec.Late = append(sec.Late, LateItem{Item: e.Item, EntryID: a.ID,
				Reason: fmt.Sprintf("%d 年度计划未完成：%s", year, Excerpt(a.Planned, 60)), ReasonEN: fmt.Sprintf("%d work plan not done", year)})
			r.Late++
		}
	}
	for _, it := range pl.All() {
		if !it.Overdue || it.Tracking.TargetDate.After(yearEnd) {
			continue
		}
		if sec, _ := sectionOf(it.Code); sec != nil {
			sec.Late = append(sec.Late, LateItem{Item: summarize(pl, it),
				Reason:   fmt.Sprintf("目标日期 %s 已过，尚未完成（%s）", it.Tracking.TargetDate, it.Tracking.Status.ZH()),
				ReasonEN: fmt.Sprintf("target date %s has passed; not done (%s)", it.Tracking.TargetDate, it.Tracking.Status.EN())})
			r.Late++
		}
	}
	for _, u := range refs(pl, ups) {
		if sec, _ := sectionOf(u.Code); sec != nil {
			sec.Updates = append(sec.Updates, u)
		}
	}
	return r, nil
}
