package plan

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"time"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/plan/tree"
)

// Service is plan tracking as callers use it: the store behind who-may-do-what, plus the KPIs, the dashboard,
// the report and the export.
type Service struct {
	Store *Store
	KPIs  Sources
	Log   *slog.Logger
	// Tree returns the plan shipped in the binary (tree.Load); tests may substitute another.
	Tree func() (*tree.Tree, error)
}

// NewService returns a service on store with the KPI sources.
func NewService(store *Store, kpis Sources, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{Store: store, KPIs: kpis, Log: log, Tree: tree.Load}
}

// CanRead reports whether p may read the plan and its tracking state: admins and coordinators. The plan's text
// is public, but lead departments, risks and delays are the coordinators' working notes, so bases, buyers and
// gateways do not see them.
func CanRead(p auth.Principal) bool { return p.Staff() }

// CanChange reports whether p may change tracking state: admins and coordinators.
func CanChange(p auth.Principal) bool { return p.Staff() }

func mayRead(p auth.Principal) error {
	if !CanRead(p) {
		return errs.E(errs.Forbidden, "role %s may not read plan tracking; it is for coordinators and admins", p.Role)
	}
	return nil
}

func mayChange(p auth.Principal) error {
	if !CanChange(p) {
		return errs.E(errs.Forbidden, "role %s may not change the plan; only coordinators and admins may", p.Role)
	}
	return nil
}

// Load refreshes the stored plan from the data shipped in the binary (idempotent; see Store.Load).
func (s *Service) Load(ctx context.Context) (LoadResult, error) {
	t, err := s.Tree()
	if err != nil {
		return LoadResult{}, err
	}
	return s.Store.Load(ctx, t)
}

// Plan returns the whole plan. Errors: Forbidden, NotFound when it was never loaded.
func (s *Service) Plan(ctx context.Context, p auth.Principal) (*Plan, error) {
	if err := mayRead(p); err != nil {
		return nil, err
	}
	return s.Store.Plan(ctx)
}

// ItemDetail is an item with everything recorded against it.
type ItemDetail struct {
	*Item
	Path    []*Item      `json:"-"`
	Updates []Update     `json:"updates"`
	Annual  []Annual     `json:"annual"`
	Audit   []AuditEntry `json:"audit"`
	KPIs    []KPI        `json:"kpis"`
}

// MarshalJSON writes the item's fields (Item.MarshalJSON, which an embedded Item would otherwise make the whole
// document) followed by what is recorded against it.
func (d ItemDetail) MarshalJSON() ([]byte, error) {
	item, err := json.Marshal(d.Item)
	if err != nil {
		return nil, err
	}
	extra, err := json.Marshal(struct {
		Updates []Update     `json:"updates"`
		Annual  []Annual     `json:"annual"`
		Audit   []AuditEntry `json:"audit"`
		KPIs    []KPI        `json:"kpis"`
	}{d.Updates, d.Annual, d.Audit, d.KPIs})
	if err != nil {
		return nil, err
	}
	if len(item) < 2 || item[len(item)-1] != '}' {
		return extra, nil // a nil item
	}
	return append(append(item[:len(item)-1], ','), extra[1:]...), nil
}

// Detail returns an item of the plan with its children, latest updates, annual entries, latest audit entries
// and KPIs. Errors: Forbidden, NotFound.
func (s *Service) Detail(ctx context.Context, p auth.Principal, code string) (*ItemDetail, *Plan, error) {
	pl, err := s.Plan(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	it, ok := pl.Item(code)
	if !ok {
		return nil, nil, errs.E(errs.NotFound, "plan item %q not found", code)
	}
	d := &ItemDetail{Item: it, Path: pl.Path(it)}
	if d.Updates, _, err = s.Store.Updates(ctx, code, pg.Page{Limit: 50}); err != nil {
		return nil, nil, err
	}
	if d.Annual, err = s.Store.AnnualOf(ctx, code); err != nil {
		return nil, nil, err
	}
	if d.Audit, _, err = s.Store.Audit(ctx, code, pg.Page{Limit: 100}); err != nil {
		return nil, nil, err
	}
	// Only items with KPIs attached ask the sources, which may be slow (trace assesses lots on the way).
	from, to := s.yearToDate()
	d.KPIs = []KPI{}
	if len(KPIsOf(Sources{}.Measure(ctx, from, to, pl, s.Log), pl, it)) > 0 {
		d.KPIs = KPIsOf(s.KPIs.Measure(ctx, from, to, pl, s.Log), pl, it)
	}
	return d, pl, nil
}

// UpdateTracking changes an item's tracking state. Errors: Forbidden, NotFound, Unprocessable naming fields.
func (s *Service) UpdateTracking(ctx context.Context, p auth.Principal, code string, pt TrackingPatch) (Tracking, []Change, error) {
	if err := mayChange(p); err != nil {
		return Tracking{}, nil, err
	}
	return s.Store.UpdateTracking(ctx, p, code, pt)
}

// AddUpdate posts an update. Errors: Forbidden, NotFound, Unprocessable naming fields.
func (s *Service) AddUpdate(ctx context.Context, p auth.Principal, code string, n NewUpdate) (Update, error) {
	if err := mayChange(p); err != nil {
		return Update{}, err
	}
	return s.Store.AddUpdate(ctx, p, code, n)
}

// Updates lists an item's updates. Errors: Forbidden, NotFound.
func (s *Service) Updates(ctx context.Context, p auth.Principal, code string, page pg.Page) ([]Update, int, error) {
	if err := mayRead(p); err != nil {
		return nil, 0, err
	}
	return s.Store.Updates(ctx, code, page)
}

// AddAnnual adds an annual entry. Errors: Forbidden, NotFound, Unprocessable naming fields.
func (s *Service) AddAnnual(ctx context.Context, p auth.Principal, code string, n NewAnnual) (Annual, error) {
	if err := mayChange(p); err != nil {
		return Annual{}, err
	}
	return s.Store.AddAnnual(ctx, p, code, n)
}

// UpdateAnnual changes an annual entry. Errors: Forbidden, NotFound, Unprocessable naming fields.
func (s *Service) UpdateAnnual(ctx context.Context, p auth.Principal, code string, id int64, pt AnnualPatch) (Annual, error) {
	if err := mayChange(p); err != nil {
		return Annual{}, err
	}
	return s.Store.UpdateAnnual(ctx, p, code, id, pt)
}

// Annual lists an item's annual entries. Errors: Forbidden, NotFound.
func (s *Service) Annual(ctx context.Context, p auth.Principal, code string) ([]Annual, error) {
	if err := mayRead(p); err != nil {
		return nil, err
	}
	return s.Store.AnnualOf(ctx, code)
}

// Audit lists an item's audit log. Errors: Forbidden, NotFound.
func (s *Service) Audit(ctx context.Context, p auth.Principal, code string, page pg.Page) ([]AuditEntry, int, error) {
	if err := mayRead(p); err != nil {
		return nil, 0, err
	}
	return s.Store.Audit(ctx, code, page)
}

// yearBounds is [1 January of year, 1 January of the next) in China.
func yearBounds(year int) (time.Time, time.Time) {
	return time.Date(year, 1, 1, 0, 0, 0, 0, CST), time.Date(year+1, 1, 1, 0, 0, 0, 0, CST)
}

// yearToDate is the dashboard's KPI period: this year so far.
func (s *Service) yearToDate() (time.Time, time.Time) {
	now := s.Store.Now()
	from, _ := yearBounds(now.In(CST).Year())
	return from, now
}

// Summary is an item as lists show it.
type Summary struct {
	Code          string    `json:"code"`
	Kind          tree.Kind `json:"kind"`
	Number        string    `json:"number,omitempty"`
	Title         string    `json:"title"`
	TitleEN       string    `json:"title_en"`
	Label         string    `json:"label"`
	Status        Status    `json:"status"`
	StatusZH      string    `json:"status_zh"`
	Progress      Progress  `json:"progress"`
	Overdue       bool      `json:"overdue"`
	TargetDate    Date      `json:"target_date"`
	LeadGuangzhou string    `json:"lead_guangzhou,omitempty"`
	LeadLongyan   string    `json:"lead_longyan,omitempty"`
	// Section is the code of the domain, safeguard section or goal the item belongs to.
	Section string `json:"section"`
	// DaysLate is how many days past its target date an overdue item is.
	DaysLate int `json:"days_late,omitempty"`
	// Text is the full text, given for goals only (lists of other items show their label).
	Text string `json:"text,omitempty"`
}

func summarize(p *Plan, it *Item) Summary {
	s := Summary{Code: it.Code, Kind: it.Kind, Number: it.Number, Title: it.Title, TitleEN: it.TitleEN, Label: it.Label(),
		Status: it.Tracking.Status, StatusZH: it.Tracking.Status.ZH(), Progress: it.Rollup, Overdue: it.Overdue,
		TargetDate: it.Tracking.TargetDate, LeadGuangzhou: it.Tracking.LeadGuangzhou, LeadLongyan: it.Tracking.LeadLongyan,
		Section: p.Domain(it).Code}
	if it.Overdue {
		s.DaysLate = p.AsOf.DaysSince(it.Tracking.TargetDate)
	}
	return s
}

// SectionSummary is a domain or safeguard section with its children.
type SectionSummary struct {
	Summary
	Children []Summary      `json:"children"`
	Statuses map[Status]int `json:"statuses"`
	Overdue  int            `json:"overdue_items"`
	KPIs     []KPI          `json:"kpis,omitempty"`
}

// UpdateRef is an update with the item it is about.
type UpdateRef struct {
	Update
	Item Summary `json:"item"`
}

// Dashboard is the coordinators' overview.
type Dashboard struct {
	AsOf       Date             `json:"as_of"`
	From       time.Time        `json:"kpi_from"`
	To         time.Time        `json:"kpi_to"`
	Progress   float64          `json:"progress"`
	Goals      []Summary        `json:"goals"`
	Domains    []SectionSummary `json:"domains"`
	Safeguards []SectionSummary `json:"safeguards"`
	Overdue    []Summary        `json:"overdue"`
	AtRisk     []Summary        `json:"at_risk"`
	Delayed    []Summary        `json:"delayed"`
	Recent     []UpdateRef      `json:"recent_updates"`
	KPIs       []KPI            `json:"kpis"`
	Statuses   map[Status]int   `json:"statuses"`
	Items      int              `json:"items"`
}

func section(p *Plan, it *Item, kpis []KPI) SectionSummary {
	ss := SectionSummary{Summary: summarize(p, it), Statuses: map[Status]int{}, KPIs: KPIsOf(kpis, p, it)}
	for _, c := range it.Children {
		ss.Children = append(ss.Children, summarize(p, c))
	}
	var walk func(*Item)
	walk = func(x *Item) {
		for _, c := range x.Children {
			ss.Statuses[c.Tracking.Status]++
			if c.Overdue {
				ss.Overdue++
			}
			walk(c)
		}
	}
	walk(it)
	return ss
}

// Dashboard returns the overview: progress by domain and task, overdue, at-risk and delayed items (most
// overdue first), recent updates, and the KPIs of this year so far. Errors: Forbidden, NotFound.
func (s *Service) Dashboard(ctx context.Context, p auth.Principal) (*Dashboard, error) {
	pl, err := s.Plan(ctx, p)
	if err != nil {
		return nil, err
	}
	from, to := s.yearToDate()
	d := &Dashboard{AsOf: pl.AsOf, From: from, To: to, Progress: pl.Progress, Statuses: map[Status]int{}}
	d.KPIs = s.KPIs.Measure(ctx, from, to, pl, s.Log)
	for _, g := range pl.Goals {
		sg := summarize(pl, g)
		sg.Text = g.Text
		d.Goals = append(d.Goals, sg)
	}
	for _, it := range pl.Domains {
		d.Domains = append(d.Domains, section(pl, it, d.KPIs))
	}
	for _, it := range pl.Safeguards {
		d.Safeguards = append(d.Safeguards, section(pl, it, d.KPIs))
	}
	for _, it := range pl.All() {
		d.Items++
		d.Statuses[it.Tracking.Status]++
		switch {
		case it.Overdue:
			d.Overdue = append(d.Overdue, summarize(pl, it))
		case it.Tracking.Status == AtRisk:
			d.AtRisk = append(d.AtRisk, summarize(pl, it))
		case it.Tracking.Status == Delayed:
			d.Delayed = append(d.Delayed, summarize(pl, it))
		}
	}
	slices.SortStableFunc(d.Overdue, func(a, b Summary) int { return b.DaysLate - a.DaysLate })
	ups, err := s.Store.RecentUpdates(ctx, 10)
	if err != nil {
		return nil, err
	}
	d.Recent = refs(pl, ups)
	return d, nil
}

func refs(pl *Plan, ups []Update) []UpdateRef {
	out := []UpdateRef{}
	for _, u := range ups {
		if it, ok := pl.Item(u.Code); ok {
			out = append(out, UpdateRef{Update: u, Item: summarize(pl, it)})
		}
	}
	return out
}
