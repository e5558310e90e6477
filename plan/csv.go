package plan

import (
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/suilong/suilong/internal/auth"
)

// CSVColumns are the export's columns, in order. Spreadsheet users filter on kind, section and status; the
// Chinese status is beside the code so that a sheet reads well without a lookup.
var CSVColumns = []string{
	"code", "kind", "parent", "section", "number", "title", "title_en", "text",
	"status", "status_zh", "progress_set", "progress", "progress_source", "target_date", "overdue",
	"lead_guangzhou", "lead_longyan", "annual_entries", "annual_done", "updates", "last_update",
	"updated_at", "updated_by",
}

// BOM is the UTF-8 byte order mark the export starts with: without it, spreadsheet programs on Chinese Windows
// read UTF-8 as GBK and the Chinese comes out garbled.
const BOM = "\ufeff"

// safeCell keeps text typed by people from being read as a formula by a spreadsheet (CSV injection): a cell
// starting with = + - @ or a tab gets a leading apostrophe, which spreadsheets hide.
func safeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// WriteCSV writes the export: the BOM, a header row of CSVColumns, then one row per item of the plan in
// document order. Errors: Forbidden, and whatever writing fails with.
func (s *Service) WriteCSV(ctx context.Context, p auth.Principal, w io.Writer) error {
	pl, err := s.Plan(ctx, p)
	if err != nil {
		return err
	}
	counts, err := s.Store.CountsByItem(ctx)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, BOM); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	cw.UseCRLF = true // what spreadsheet programs write and expect
	if err := cw.Write(CSVColumns); err != nil {
		return err
	}
	for _, it := range pl.All() {
		t := it.Tracking
		c := counts[it.Code]
		updatedAt := ""
		if t.UpdatedAt != nil {
			updatedAt = t.UpdatedAt.In(CST).Format("2006-01-02 15:04")
		}
		row := []string{
			it.Code, string(it.Kind), it.Parent, pl.Domain(it).Code, it.Number, it.Title, it.TitleEN, it.Text,
			string(t.Status), t.Status.ZH(), progressText(t.Progress), fmt.Sprintf("%.1f", it.Rollup.Value), string(it.Rollup.Source),
			t.TargetDate.String(), strconv.FormatBool(it.Overdue),
			safeCell(t.LeadGuangzhou), safeCell(t.LeadLongyan), strconv.Itoa(c.Annual), strconv.Itoa(c.AnnualDone),
			strconv.Itoa(c.Updates), c.LastUpdate.String(), updatedAt, safeCell(t.UpdatedBy),
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
