package pg

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/suilong/suilong/internal/errs"
)

// Lists cost what their page costs, not what the whole list holds: a page is read by keyset (the rows after
// the cursor of the previous page's last row, in the list's order, through an index on that order) and its
// expensive columns are computed for its own rows only; the total is counted up to CountCap and reported as
// "more than CountCap" beyond it. Offset still works, at the cost of the rows it skips.
const (
	// DefaultLimit is the page size when none is asked for.
	DefaultLimit = 50
	// MaxLimit is the largest page a client may ask for.
	MaxLimit = 500
	// CountCap bounds the totals of lists: a list of more rows reports CountCap and says it is capped, so that a
	// page of an organisation with a hundred thousand rows does not count them all.
	CountCap = 1000
)

// Page is a page request of a list: Limit rows after the cursor After (the previous page's next cursor; empty
// for the first page), skipping Offset rows first.
type Page struct {
	Limit  int    `json:"limit"`
	Offset int    `json:"offset"`
	After  string `json:"-"`
}

// Rows is the LIMIT of the page's query: Limit, DefaultLimit when none is asked for, at most MaxLimit+1 (one
// row past a full page tells whether another follows; see Fetch).
func (p Page) Rows() int {
	switch {
	case p.Limit <= 0:
		return DefaultLimit
	case p.Limit > MaxLimit+1:
		return MaxLimit + 1
	}
	return p.Limit
}

// Keyed is a row of a list read by keyset: its key is its place in the list's order (the ORDER BY columns,
// which end in a unique one), what the next page's cursor encodes.
type Keyed interface {
	PageKey() []any
}

// Cursor encodes a row's key as an opaque cursor: URL-safe base64 of the key as a JSON array.
func Cursor(key ...any) string {
	b, err := json.Marshal(key)
	if err != nil { // keys are ids, strings and times, which always encode
		panic(fmt.Sprintf("pg: cursor of %v: %v", key, err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// badCursor is the error of a cursor that is not one this list gave out.
func badCursor() error {
	return &errs.Error{Code: errs.Invalid, Message: "bad pagination",
		Fields: []errs.FieldError{{Field: "after", Message: "is not a cursor of this list; pass the next value of the previous page as it is"}}}
}

// ValidCursor checks the form of a cursor (not whether it fits a list: Keyset does). Errors: Invalid naming
// the parameter "after".
func ValidCursor(s string) error {
	_, err := cursorParts(s)
	return err
}

func cursorParts(s string) ([]json.RawMessage, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(s) > 1024 {
		return nil, badCursor()
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(b, &parts); err != nil || len(parts) == 0 {
		return nil, badCursor()
	}
	return parts, nil
}

// Keyset returns the condition that keeps the rows after the page's cursor in a list ordered by cols (a
// comma-separated list of columns, all in one direction, descending when desc), appending its values to args;
// "" when the page has no cursor. key are pointers of the columns' types (*int64, *string, *time.Time) that the
// cursor's values are decoded into. Errors: Invalid naming "after" when the cursor does not fit the list.
func (p Page) Keyset(args *[]any, desc bool, cols string, key ...any) (string, error) {
	if p.After == "" {
		return "", nil
	}
	parts, err := cursorParts(p.After)
	if err != nil {
		return "", err
	}
	if len(parts) != len(key) {
		return "", badCursor()
	}
	ph := make([]string, len(key))
	for i, k := range key {
		if err := json.Unmarshal(parts[i], k); err != nil {
			return "", badCursor()
		}
		*args = append(*args, k)
		ph[i] = "$" + strconv.Itoa(len(*args))
	}
	op := ">"
	if desc {
		op = "<"
	}
	if len(key) == 1 {
		return cols + " " + op + " " + ph[0], nil
	}
	return "(" + cols + ") " + op + " (" + strings.Join(ph, ", ") + ")", nil
}

// Count is a scalar subquery that counts the rows of fromWhere ("FROM … WHERE …", without the cursor's
// condition) up to CountCap+1; Total reads it.
func Count(fromWhere string) string {
	return `(SELECT count(*) FROM (SELECT 1 ` + fromWhere + ` LIMIT ` + strconv.Itoa(CountCap+1) + `) capped)`
}

// Total reads a count made by Count: the total to report, and whether it is capped (the list holds more).
func Total(n int) (total int, capped bool) {
	if n > CountCap {
		return CountCap, true
	}
	return n, false
}

// Fetch asks fn for the page p with one row more, to learn whether another page follows, and returns the page,
// its total as fn counted it (with Count), and the cursor of the next page ("" at the end, or when the rows are
// not Keyed).
func Fetch[T any](p Page, fn func(Page) ([]T, int, error)) (items []T, total int, next string, err error) {
	want := p.Rows()
	if want > MaxLimit {
		want = MaxLimit
	}
	q := p
	q.Limit = want + 1
	items, total, err = fn(q)
	if err != nil || len(items) <= want {
		return items, total, "", err
	}
	items = items[:want]
	if k, ok := any(items[want-1]).(Keyed); ok {
		next = Cursor(k.PageKey()...)
	}
	return items, total, next, nil
}

// Query is a list's query, so built that a page costs what its rows cost: the page's rows are taken from From
// (filtered by Where, after the cursor, ordered by Key, with the page's LIMIT and OFFSET: through an index on
// Key, that reads only them) before Joins are computed for them alone, and the whole list is counted up to
// CountCap beside them.
type Query struct {
	Cols  string   // the columns selected, over From's alias and Joins
	From  string   // a table (or a subquery) and its alias: "demands d"
	Joins string   // joins and lateral subqueries, computed for the page's rows only
	Where []string // conditions on From; none selects every row
	Args  []any    // the arguments of Where ($1, $2, … in order)
	Key   string   // the ORDER BY columns, ending in a unique one: "d.id", "started_at, id"
	Desc  bool     // Key descending
}

func (q Query) alias() string {
	f := strings.Fields(q.From)
	return f[len(f)-1]
}

func (q Query) order() string {
	if !q.Desc {
		return q.Key
	}
	cols := strings.Split(q.Key, ",")
	for i, c := range cols {
		cols[i] = strings.TrimSpace(c) + " DESC"
	}
	return strings.Join(cols, ", ")
}

func (q Query) where(extra ...string) string {
	conds := append(append([]string{}, q.Where...), extra...)
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// Page returns the SQL and arguments of page p: Cols of its rows, then the capped count of the whole list (read
// it with Total). key are pointers to decode p's cursor into, one per Key column (see Keyset). Errors: Invalid
// naming "after" when the cursor does not fit the list.
func (q Query) Page(p Page, key ...any) (string, []any, error) {
	args := append([]any{}, q.Args...)
	ks, err := p.Keyset(&args, q.Desc, q.Key, key...)
	if err != nil {
		return "", nil, err
	}
	var extra []string
	if ks != "" {
		extra = append(extra, ks)
	}
	args = append(args, p.Rows(), max(p.Offset, 0))
	n := len(args)
	sql := `SELECT ` + q.Cols + `, ` + Count(`FROM `+q.From+q.where()) +
		` FROM (SELECT * FROM ` + q.From + q.where(extra...) + ` ORDER BY ` + q.order() +
		` LIMIT $` + strconv.Itoa(n-1) + ` OFFSET $` + strconv.Itoa(n) + `) ` + q.alias() + q.Joins +
		` ORDER BY ` + q.order()
	return sql, args, nil
}

// Count counts the whole list up to CountCap+1, for a page that came back empty and so carried no count.
func (q Query) Count(ctx context.Context, db DB) (int, error) {
	var n int
	err := db.QueryRow(ctx, `SELECT `+Count(`FROM `+q.From+q.where()), q.Args...).Scan(&n)
	return n, err
}

// List runs page p of q and reads its rows with scan, which scans a row's columns and then, last, the list's
// capped total into the int it is given (Page puts the count after Cols); a page that comes back empty carries
// no count, and is counted apart. key are the cursor's targets, as for Page; what names the list in errors.
func List[T any](ctx context.Context, db DB, q Query, p Page, what string, scan func(row pgx.Row, total *int) (T, error), key ...any) ([]T, int, error) {
	sql, args, err := q.Page(p, key...)
	if err != nil {
		return nil, 0, err
	}
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, 0, Err(err, what)
	}
	defer rows.Close()
	out, total := []T{}, 0
	for rows.Next() {
		t, err := scan(rows, &total)
		if err != nil {
			return nil, 0, Err(err, what)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, Err(err, what)
	}
	if len(out) == 0 {
		total, err = q.Count(ctx, db)
	}
	return out, total, Err(err, what)
}
