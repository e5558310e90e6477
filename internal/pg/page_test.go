package pg

import (
	"strings"
	"testing"
	"time"

	"github.com/suilong/suilong/internal/errs"
)

type row struct{ id int64 }

func (r row) PageKey() []any { return []any{r.id} }

func TestCursorRoundTripsThroughKeyset(t *testing.T) {
	at := time.Date(2026, 11, 24, 10, 0, 0, 123456000, time.UTC)
	p := Page{After: Cursor(at, int64(42))}
	args := []any{"LY-TRK-0001"}
	var gotAt time.Time
	var gotID int64
	cond, err := p.Keyset(&args, true, "started_at, id", &gotAt, &gotID)
	if err != nil || cond != "(started_at, id) < ($2, $3)" || !gotAt.Equal(at) || gotID != 42 || len(args) != 3 {
		t.Fatalf("keyset %q %v %v %v %v", cond, err, gotAt, gotID, args)
	}
	var name string
	if cond, err := (Page{After: Cursor("choy-sum")}).Keyset(&args, false, "name", &name); err != nil || cond != "name > $4" || name != "choy-sum" {
		t.Fatalf("ascending keyset %q %v", cond, err)
	}
	if cond, err := (Page{}).Keyset(&args, false, "name", &name); err != nil || cond != "" {
		t.Fatalf("no cursor: %q %v", cond, err)
	}
}

func TestBadCursorsNameAfter(t *testing.T) {
	for _, c := range []string{"%%", "W10", Cursor("x"), Cursor(int64(1), int64(2)), strings.Repeat("A", 2000)} {
		var id int64
		args := []any{}
		_, err := Page{After: c}.Keyset(&args, true, "id", &id)
		e := errs.As(err)
		if e == nil || e.Code != errs.Invalid || len(e.Fields) != 1 || e.Fields[0].Field != "after" || len(args) > 1 {
			t.Errorf("cursor %q: %v", c, err)
		}
	}
}

func TestTotalCapsAndRowsBound(t *testing.T) {
	for _, tt := range []struct {
		n, total int
		capped   bool
	}{{0, 0, false}, {CountCap, CountCap, false}, {CountCap + 1, CountCap, true}} {
		if total, capped := Total(tt.n); total != tt.total || capped != tt.capped {
			t.Errorf("Total(%d) = %d %v", tt.n, total, capped)
		}
	}
	for _, tt := range []struct{ limit, rows int }{{0, DefaultLimit}, {-3, DefaultLimit}, {7, 7}, {MaxLimit + 1, MaxLimit + 1}, {10000, MaxLimit + 1}} {
		if got := (Page{Limit: tt.limit}).Rows(); got != tt.rows {
			t.Errorf("Rows of limit %d = %d, want %d", tt.limit, got, tt.rows)
		}
	}
}

// Fetch asks for one row more than the page, returns the page and, when the row beyond came, the cursor of the
// page's last row.
func TestFetchLearnsWhetherAnotherPageFollows(t *testing.T) {
	list := func(n int) func(Page) ([]row, int, error) {
		return func(p Page) ([]row, int, error) {
			var out []row
			for i := int64(n); i > 0 && len(out) < p.Rows(); i-- {
				out = append(out, row{i})
			}
			return out, n, nil
		}
	}
	items, total, next, err := Fetch(Page{Limit: 3}, list(5))
	if err != nil || len(items) != 3 || total != 5 || next != Cursor(int64(3)) {
		t.Fatalf("first of two pages: %v %d %q %v", items, total, next, err)
	}
	if items, _, next, _ := Fetch(Page{Limit: 5}, list(5)); len(items) != 5 || next != "" {
		t.Fatalf("a page holding the whole list: %v %q", items, next)
	}
	if items, _, next, _ := Fetch(Page{Limit: MaxLimit}, list(MaxLimit+7)); len(items) != MaxLimit || next == "" {
		t.Fatalf("largest page: %d items, next %q", len(items), next)
	}
}
