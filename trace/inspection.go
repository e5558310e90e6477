package trace

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// InspectionResult is the outcome of a lot's pesticide-residue test (农残检测).
type InspectionResult string

// The results of an inspection.
const (
	InspectionPass InspectionResult = "pass"
	InspectionFail InspectionResult = "fail"
)

// Inspection is one 农残检测 of a lot: a lab's result on a day, with the number of its report. A lot may be
// tested more than once (a retest after a failure); the latest, by day tested and then by record, is the one
// that counts (LatestInspections, matching's rule).
type Inspection struct {
	ID           int64            `json:"id"`
	LotID        int64            `json:"lot_id"`
	Result       InspectionResult `json:"result"`
	Lab          string           `json:"lab"`
	TestedOn     DateOnly         `json:"tested_on"`
	ReportNumber string           `json:"report_number"`
	Note         string           `json:"note"`
	RecordedBy   int64            `json:"recorded_by"`
	Recorder     string           `json:"recorder"`
	RecordedAt   time.Time        `json:"recorded_at"`
}

// NewInspection is what the lot's base or a coordinator records.
type NewInspection struct {
	Result       InspectionResult `json:"result"`
	Lab          string           `json:"lab"`
	TestedOn     *DateOnly        `json:"tested_on"`
	ReportNumber string           `json:"report_number"`
	Note         string           `json:"note"`
}

// Validate checks the fields; the day tested may be neither before the harvest (China's calendar) nor after
// today.
func (n *NewInspection) Validate(harvest, now time.Time) error {
	n.Lab, n.ReportNumber, n.Note = strings.TrimSpace(n.Lab), strings.TrimSpace(n.ReportNumber), strings.TrimSpace(n.Note)
	var fe errs.FieldErrors
	if n.Result != InspectionPass && n.Result != InspectionFail {
		fe.Add("result", "must be pass or fail")
	}
	if n.Lab == "" || utf8.RuneCountInString(n.Lab) > 200 || !printable(n.Lab) {
		fe.Add("lab", "is required: the testing laboratory's name, at most 200 characters")
	}
	if n.ReportNumber == "" || utf8.RuneCountInString(n.ReportNumber) > 64 || !printable(n.ReportNumber) {
		fe.Add("report_number", "is required: the number on the test report, at most 64 characters")
	}
	if utf8.RuneCountInString(n.Note) > 1000 {
		fe.Add("note", "at most 1000 characters")
	}
	day := func(t time.Time) string { return t.In(CST).Format(time.DateOnly) }
	switch {
	case n.TestedOn == nil:
		fe.Add("tested_on", "is required (the day of the test, e.g. 2026-11-20)")
	case n.TestedOn.String() < day(harvest):
		fe.Add("tested_on", "is before the lot's harvest (%s)", day(harvest))
	case n.TestedOn.String() > day(now):
		fe.Add("tested_on", "is in the future (today is %s)", day(now))
	}
	return fe.Err()
}

func printable(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// RecordInspection records an inspection of a lot: by the lot's base or a coordinator (a buyer sees results,
// another base cannot even see the lot). Errors: NotFound for a lot the caller cannot see, Forbidden,
// Unprocessable, Conflict (the report number is already recorded for the lot).
func (s *Service) RecordInspection(ctx context.Context, p auth.Principal, lotID int64, n NewInspection) (Inspection, error) {
	l, err := s.Lot(ctx, p, lotID)
	if err != nil {
		return Inspection{}, err
	}
	if !p.Staff() && !(p.Role == auth.RoleBase && p.OrgID == l.OrgID) {
		return Inspection{}, errs.E(errs.Forbidden, "only the lot's base or a coordinator records its inspections")
	}
	// The base records its own results (self-tests, and the lab reports it receives) as the 承诺达标合格证
	// scheme has it do; each record keeps who recorded it, so a coordinator can tell the base's from its own.
	if err := n.Validate(l.HarvestedAt, s.Now()); err != nil {
		return Inspection{}, err
	}
	in, err := s.Store.AddInspection(ctx, lotID, n, p.OrgID, p.Actor())
	if err == nil {
		s.Log.Info("lot inspection recorded", "lot", l.Code, "result", string(n.Result), "by", p.OrgID)
	}
	return in, err
}

// Inspections lists a lot's inspections, latest first, for whoever may see the lot. Errors: NotFound.
func (s *Service) Inspections(ctx context.Context, p auth.Principal, lotID int64) ([]Inspection, error) {
	if _, err := s.Lot(ctx, p, lotID); err != nil {
		return nil, err
	}
	return s.Store.Inspections(ctx, lotID)
}

const inspectionCols = `id, lot_id, result, lab, tested_on, report_number, note, coalesce(recorded_by, 0), recorder, recorded_at`

func scanInspection(r pgx.Row) (Inspection, error) {
	var in Inspection
	var day time.Time
	err := r.Scan(&in.ID, &in.LotID, &in.Result, &in.Lab, &day, &in.ReportNumber, &in.Note, &in.RecordedBy, &in.Recorder, &in.RecordedAt)
	in.TestedOn = DateOnly{time.Date(day.Year(), day.Month(), day.Day(), 0, 0, 0, 0, CST)}
	return in, err
}

// AddInspection stores an inspection. recordedBy is the recording organisation (0: the system).
func (s *Store) AddInspection(ctx context.Context, lotID int64, n NewInspection, recordedBy int64, recorder string) (Inspection, error) {
	var by *int64
	if recordedBy != 0 {
		by = &recordedBy
	}
	in, err := scanInspection(s.db.QueryRow(ctx, `INSERT INTO lot_inspections (lot_id, result, lab, tested_on, report_number, note, recorded_by, recorder)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING `+inspectionCols,
		lotID, string(n.Result), n.Lab, n.TestedOn.String(), n.ReportNumber, n.Note, by, recorder))
	if err != nil {
		if errs.Is(pg.Err(err, ""), errs.Conflict) {
			return Inspection{}, &errs.Error{Code: errs.Conflict, Message: "this report is already recorded for the lot",
				Fields: []errs.FieldError{{Field: "report_number", Message: "already recorded for this lot"}}}
		}
		return Inspection{}, pg.Err(err, "inspection")
	}
	return in, nil
}

// Inspections lists a lot's inspections, latest first (the order in which the first one counts).
func (s *Store) Inspections(ctx context.Context, lotID int64) ([]Inspection, error) {
	rows, err := s.db.Query(ctx, `SELECT `+inspectionCols+` FROM lot_inspections WHERE lot_id = $1
		ORDER BY tested_on DESC, id DESC LIMIT 500`, lotID)
	if err != nil {
		return nil, pg.Err(err, "inspections")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Inspection, error) { return scanInspection(r) })
	if out == nil {
		out = []Inspection{}
	}
	return out, pg.Err(err, "inspections")
}

// LotInspection is a lot's code with the result of its latest inspection ("" when it has none).
type LotInspection struct {
	Code   string
	Result InspectionResult
}

// LatestInspections returns, for each lot of ids that exists, its code and latest inspection result.
func (s *Store) LatestInspections(ctx context.Context, ids []int64) (map[int64]LotInspection, error) {
	out := make(map[int64]LotInspection, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.db.Query(ctx, `SELECT l.id, l.code, coalesce(i.result, '') FROM lots l
		LEFT JOIN LATERAL (SELECT result FROM lot_inspections WHERE lot_id = l.id ORDER BY tested_on DESC, id DESC LIMIT 1) i ON true
		WHERE l.id = ANY($1)`, ids)
	if err != nil {
		return nil, pg.Err(err, "inspections")
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var li LotInspection
		if err := rows.Scan(&id, &li.Code, &li.Result); err != nil {
			return nil, pg.Err(err, "inspections")
		}
		out[id] = li
	}
	return out, pg.Err(rows.Err(), "inspections")
}

// LatestInspection is the lot's latest inspection, nil when it has none.
func (s *Store) LatestInspection(ctx context.Context, lotID int64) (*Inspection, error) {
	in, err := scanInspection(s.db.QueryRow(ctx, `SELECT `+inspectionCols+` FROM lot_inspections WHERE lot_id = $1
		ORDER BY tested_on DESC, id DESC LIMIT 1`, lotID))
	if errs.Is(pg.Err(err, ""), errs.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, pg.Err(err, "inspection")
	}
	return &in, nil
}
