package rest

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

type cents int64

func (c *cents) UnmarshalJSON(b []byte) error {
	if string(b) == "3.201" {
		return errors.New("has more than two decimals")
	}
	*c = 1
	return nil
}

type line struct {
	Price cents     `json:"price"`
	At    time.Time `json:"at"`
}

type order struct {
	Name  string `json:"name"`
	Lines []line `json:"lines"`
}

// Every decoding error names the field at fault, including those encoding/json reports without one: a value's
// own UnmarshalJSON failing, and a malformed time.
func TestDecodeNamesTheField(t *testing.T) {
	tests := []struct {
		name, body, field string
	}{
		{"unknown field", `{"name":"x","colour":1}`, "colour"},
		{"wrong type", `{"name":5}`, "name"},
		{"own unmarshaler", `{"lines":[{"price":1},{"price":3.201}]}`, "lines[1].price"},
		{"malformed time", `{"lines":[{"at":"2026-11-20T06:00:00Z"},{"at":"yesterday"}]}`, "lines[1].at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o order
			e := errs.As(Decode([]byte(tt.body), &o))
			if e == nil || e.Code != errs.Invalid || len(e.Fields) != 1 || e.Fields[0].Field != tt.field {
				t.Fatalf("got %+v, want the field %s", e, tt.field)
			}
		})
	}
	var o order
	if err := Decode([]byte(`{"lines":[{"price":2}]}`), &o); err != nil || len(o.Lines) != 1 {
		t.Fatalf("a good body: %v", err)
	}
}

type unkeyed struct{ N int }

// A list whose rows have no key refuses a cursor rather than answer its first page again.
func TestListPageRefusesACursorWithoutKeys(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.GET("/l", func(c *gin.Context) {
		ListPage(c, func(p PageReq) ([]unkeyed, int, error) { return []unkeyed{{1}, {2}}, 2, nil })
	})
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest("GET", "/l?after="+pg.Cursor(int64(1)), nil))
	if w.Code != 400 || !strings.Contains(w.Body.String(), `"field":"after"`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	w = httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest("GET", "/l?limit=1", nil))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"next":null`) || !strings.Contains(w.Body.String(), `"total":2`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}
