package matching

import (
	"encoding/csv"
	"io"
	"strconv"
	"strings"
)

// csvBOM starts the report's CSV: without it, spreadsheet programs on Chinese Windows read UTF-8 as GBK.
const csvBOM = "\ufeff"

// ReportCSVColumns are the CSV's header, Chinese with English beside, in order.
var ReportCSVColumns = []string{"类别 kind", "机构编号 org_id", "机构 org", "原因 reason", "记录数 records", "供应公斤 offered_kg",
	"需求公斤 demanded_kg", "撮合公斤 matched_kg", "待确认公斤 proposed_kg", "下单公斤 ordered_kg", "交付公斤 delivered_kg",
	"拒绝公斤 declined_kg", "逾期公斤 lapsed_kg", "未售公斤 unsold_kg", "未满足公斤 unmet_kg", "未撮合公斤 unmatched_kg",
	"成交金额 ordered_cny", "成交剩余 surplus_cny"}

// WriteCSV writes the report as CSV: the BOM, the header, the totals, a line per base and per buyer, then a
// line per unmatched reason. Kinds: total, base, buyer, unmatched_offer, unmatched_demand. Surplus is empty
// where the reader may not see it.
func (rep RoundReport) WriteCSV(w io.Writer) error {
	if _, err := io.WriteString(w, csvBOM); err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(ReportCSVColumns); err != nil {
		return err
	}
	kg := func(v int64) string { return strconv.FormatInt(v, 10) }
	row := func(kind string, l ReportLine) []string {
		org := ""
		if l.OrgID != 0 {
			org = kg(l.OrgID)
		}
		surplus := ""
		if l.Surplus != nil {
			surplus = l.Surplus.String()
		}
		return []string{kind, org, safeCell(l.OrgName), "", "", kg(l.OfferedKg), kg(l.DemandedKg), kg(l.MatchedKg), kg(l.ProposedKg), kg(l.OrderedKg),
			kg(l.DeliveredKg), kg(l.DeclinedKg), kg(l.LapsedKg), kg(l.UnsoldKg), kg(l.UnmetKg), "", l.OrderedCNY.String(), surplus}
	}
	rows := [][]string{row("total", rep.Totals)}
	for _, l := range rep.Bases {
		rows = append(rows, row("base", l))
	}
	for _, l := range rep.Buyers {
		rows = append(rows, row("buyer", l))
	}
	for _, u := range rep.Unmatched {
		r := make([]string, len(ReportCSVColumns))
		r[0], r[3], r[4], r[15] = "unmatched_"+u.Side, u.Code, strconv.Itoa(u.Records), kg(u.Kg)
		rows = append(rows, r)
	}
	if err := cw.WriteAll(rows); err != nil {
		return err
	}
	return cw.Error()
}

// safeCell keeps an organisation's name from being read as a formula by a spreadsheet (CSV injection): a cell
// starting with = + - @ or a tab gets a leading apostrophe, which spreadsheets hide.
func safeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
