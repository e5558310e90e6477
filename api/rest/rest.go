// Package rest holds what every JSON handler needs: RFC 9457 problem responses from internal/errs, strict JSON
// binding that names the field at fault, the caller's principal and role checks, ids and pagination.
package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// ProblemType is the base of the "type" URIs of our problems; the code is appended.
const ProblemType = "https://suilong.dev/problems/"

var statusOf = map[errs.Code]int{
	errs.Invalid:       http.StatusBadRequest,
	errs.Unauthorized:  http.StatusUnauthorized,
	errs.Forbidden:     http.StatusForbidden,
	errs.NotFound:      http.StatusNotFound,
	errs.Conflict:      http.StatusConflict,
	errs.Unprocessable: http.StatusUnprocessableEntity,
	errs.Internal:      http.StatusInternalServerError,
}

// Status is the HTTP status for an error's code.
func Status(err error) int {
	if s, ok := statusOf[errs.CodeOf(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// ProblemDoc is an RFC 9457 problem document.
type ProblemDoc struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Status    int               `json:"status"`
	Detail    string            `json:"detail,omitempty"`
	Instance  string            `json:"instance,omitempty"`
	Code      errs.Code         `json:"code"`
	RequestID string            `json:"request_id,omitempty"`
	Errors    []errs.FieldError `json:"errors,omitempty"`
}

// StatusClientClosed is the status of a request whose client went away before it was answered (nginx's 499).
// Such a request is logged and counted with it, not as a server error: its failure (a query canceled with the
// request's context, say) is the client's leaving, and nobody reads the answer.
const StatusClientClosed = 499

// ClientGone reports whether the request's client went away: the server cancels a request's context when its
// connection closes (it never does at shutdown, which drains requests instead).
func ClientGone(c *gin.Context) bool { return errors.Is(c.Request.Context().Err(), context.Canceled) }

// Problem aborts the request with err as application/problem+json. Internal errors are logged with their cause
// and shown to the client only as "internal error" with the request id to quote. A request whose client went
// away gets StatusClientClosed and no body, whatever err is.
func Problem(c *gin.Context, err error) {
	if ClientGone(c) {
		c.Abort()
		c.Status(StatusClientClosed)
		return
	}
	code := errs.CodeOf(err)
	status := Status(err)
	doc := ProblemDoc{
		Type:      ProblemType + string(code),
		Title:     http.StatusText(status),
		Status:    status,
		Instance:  c.Request.URL.Path,
		Code:      code,
		RequestID: c.GetString(RequestIDKey),
	}
	if e := errs.As(err); e != nil && code != errs.Internal {
		doc.Detail = e.Message
		doc.Errors = e.Fields
	}
	if code == errs.Internal {
		doc.Detail = "internal error; quote the request id when reporting it"
		slog.ErrorContext(c.Request.Context(), "request failed", "err", err, "request_id", doc.RequestID,
			"method", c.Request.Method, "path", c.FullPath())
	}
	if status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="suilong"`)
	}
	body, _ := json.Marshal(doc)
	c.Abort()
	c.Data(status, "application/problem+json", body)
}

// RequestIDKey is the gin context key of the request id.
const RequestIDKey = "request_id"

// MaxBody bounds request bodies that Bind reads.
const MaxBody = 4 << 20

// Bind decodes the JSON body into v strictly: unknown fields, wrong types, trailing data and bodies over MaxBody
// are errors that name the field. It does not validate values; domains do.
func Bind(c *gin.Context, v any) error {
	body, err := io.ReadAll(io.LimitReader(c.Request.Body, MaxBody+1))
	if err != nil {
		return errs.Wrap(errs.Invalid, err, "could not read request body")
	}
	if len(body) > MaxBody {
		return errs.E(errs.Invalid, "request body is larger than %d bytes", MaxBody)
	}
	return Decode(body, v)
}

// EmptyBody is the message of the error Bind returns for an empty body, for routes where a body is optional.
const EmptyBody = "request body is empty; a JSON object is expected"

// Decode is Bind's decoding of an already read body.
func Decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errs.E(errs.Invalid, EmptyBody)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *time.ParseError
		if errors.As(err, &te) {
			return timeError(body, te)
		}
		e := jsonError(err)
		if ee := errs.As(e); ee != nil && len(ee.Fields) == 0 {
			// A value's own UnmarshalJSON failed (money with three decimals, say): find whose.
			if field, ferr := locate(reflect.TypeOf(v), body, ""); ferr != nil {
				ee.Message = "invalid value"
				ee.Fields = []errs.FieldError{{Field: field, Message: ferr.Error()}}
			}
		}
		return e
	}
	if dec.More() {
		return errs.E(errs.Invalid, "unexpected data after the JSON object")
	}
	return nil
}

// locate decodes raw into a value of type t field by field and returns the JSON path of the first field that
// fails, with its error; nil when none does on its own.
func locate(t reflect.Type, raw []byte, path string) (string, error) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		var obj map[string]json.RawMessage
		if json.Unmarshal(raw, &obj) != nil {
			break
		}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if f.Anonymous && name == "" {
				if p, err := locate(f.Type, raw, path); err != nil {
					return p, err
				}
				continue
			}
			if name == "" || name == "-" {
				continue
			}
			sub, ok := obj[name]
			if !ok {
				continue
			}
			p := name
			if path != "" {
				p = path + "." + name
			}
			if err := json.Unmarshal(sub, reflect.New(f.Type).Interface()); err != nil {
				if deeper, derr := locate(f.Type, sub, p); derr != nil {
					return deeper, derr
				}
				return p, err
			}
		}
	case reflect.Slice, reflect.Array:
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) != nil {
			break
		}
		for i, it := range items {
			p := path + "[" + strconv.Itoa(i) + "]"
			if err := json.Unmarshal(it, reflect.New(t.Elem()).Interface()); err != nil {
				if deeper, derr := locate(t.Elem(), it, p); derr != nil {
					return deeper, derr
				}
				return p, err
			}
		}
	}
	return path, nil
}

// timeError names the field of a malformed time. encoding/json does not say which field a time.Time failed in,
// so the body is searched for the string it could not parse.
func timeError(body []byte, te *time.ParseError) error {
	field := "(body)"
	var doc any
	if json.Unmarshal(body, &doc) == nil {
		if f, ok := findString(doc, "", te.Value); ok {
			field = f
		}
	}
	e := errs.Wrap(errs.Invalid, te, "malformed time")
	e.Fields = []errs.FieldError{{Field: field, Message: fmt.Sprintf("must be an RFC 3339 time such as 2026-11-20T06:00:00Z, not %q", te.Value)}}
	return e
}

// findString returns the JSON path ("offers[2].harvested_at") of the first string equal to want.
func findString(v any, path, want string) (string, bool) {
	switch x := v.(type) {
	case string:
		return path, x == want
	case []any:
		for i, e := range x {
			if p, ok := findString(e, path+"["+strconv.Itoa(i)+"]", want); ok {
				return p, true
			}
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p := k
			if path != "" {
				p = path + "." + k
			}
			if p, ok := findString(x[k], p, want); ok {
				return p, true
			}
		}
	}
	return "", false
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return errs.Wrap(errs.Invalid, err, "malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		e := errs.Wrap(errs.Invalid, err, "wrong type")
		e.Fields = []errs.FieldError{{Field: field, Message: fmt.Sprintf("must be %s, not %s", typ.Type.String(), typ.Value)}}
		return e
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		e := errs.Wrap(errs.Invalid, err, "unknown field")
		e.Fields = []errs.FieldError{{Field: name, Message: "is not a known field"}}
		return e
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.Wrap(errs.Invalid, err, "malformed JSON: body ends early")
	}
	return errs.Wrap(errs.Invalid, err, "malformed JSON: %s", err.Error())
}

// Principal returns the caller. Routes under /api/v1 always have one (the auth middleware ensures it), and so
// do pages behind web.RequireSession; were it ever missing, the zero principal has no role and no
// organisation, and every domain call refuses it.
func Principal(c *gin.Context) auth.Principal {
	p, _ := auth.FromContext(c.Request.Context())
	return p
}

// RequireRole lets only the given roles through; others get 403 (401 if nobody signed in).
func RequireRole(roles ...auth.Role) gin.HandlerFunc {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	allowed := strings.Join(names, ", ")
	return func(c *gin.Context) {
		p, ok := auth.FromContext(c.Request.Context())
		if !ok {
			Problem(c, errs.E(errs.Unauthorized, "authentication required"))
			return
		}
		if !p.Is(roles...) {
			Problem(c, errs.E(errs.Forbidden, "role %s may not do this; allowed: %s", p.Role, allowed))
			return
		}
		c.Next()
	}
}

// ID parses a positive integer path parameter. Errors: NotFound (an id that cannot exist does not).
func ID(c *gin.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, errs.E(errs.NotFound, "%s %q not found", name, c.Param(name))
	}
	return id, nil
}

// PageReq is a page request: ?limit= (1–500, default 50), ?after= (the next cursor of the previous page) and
// ?offset= (rows to skip, after the cursor when both are given).
type PageReq = pg.Page

// Page parses pagination parameters. Errors: Invalid naming the parameter.
func Page(c *gin.Context) (PageReq, error) {
	p := PageReq{Limit: pg.DefaultLimit}
	if s := c.Query("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > pg.MaxLimit {
			return p, &errs.Error{Code: errs.Invalid, Message: "bad pagination",
				Fields: []errs.FieldError{{Field: "limit", Message: "must be an integer from 1 to 500"}}}
		}
		p.Limit = n
	}
	if s := c.Query("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return p, &errs.Error{Code: errs.Invalid, Message: "bad pagination",
				Fields: []errs.FieldError{{Field: "offset", Message: "must be a non-negative integer"}}}
		}
		p.Offset = n
	}
	if _, given := c.GetQuery("after"); given {
		p.After = c.Query("after")
		if err := pg.ValidCursor(p.After); err != nil {
			return p, err
		}
	}
	return p, nil
}

// ListDoc is the shape of every paginated list. Total counts the whole list (not only what follows the
// cursor) up to pg.CountCap; TotalCapped says the list holds more than that. Next is the cursor of the
// following page (pass it as ?after=), null on the last page.
type ListDoc[T any] struct {
	Items       []T     `json:"items"`
	Total       int     `json:"total"`
	TotalCapped bool    `json:"total_capped"`
	Limit       int     `json:"limit"`
	Offset      int     `json:"offset"`
	Next        *string `json:"next"`
}

// List writes a list that is whole (not a page of a longer one): its items and their exact count.
func List[T any](c *gin.Context, items []T, total int, p PageReq) {
	if items == nil {
		items = []T{}
	}
	c.JSON(http.StatusOK, ListDoc[T]{Items: items, Total: total, Limit: p.Limit, Offset: p.Offset})
}

// Reply writes v with status, or the problem err.
func Reply(c *gin.Context, status int, v any, err error) {
	if err != nil {
		Problem(c, err)
		return
	}
	c.JSON(status, v)
}

// ListPage parses the page request, asks fn for that page and writes it, or the problem. fn returns the rows
// (Keyed ones get a next cursor) and their total counted with pg.Count.
func ListPage[T any](c *gin.Context, fn func(PageReq) ([]T, int, error)) {
	ListPageAs(c, fn, func(t T) T { return t })
}

// ListPageAs is ListPage for handlers that show each row as another type.
func ListPageAs[T, D any](c *gin.Context, fn func(PageReq) ([]T, int, error), as func(T) D) {
	p, err := Page(c)
	if err != nil {
		Problem(c, err)
		return
	}
	if _, keyed := any(*new(T)).(pg.Keyed); !keyed && p.After != "" {
		// A list whose rows have no key would ignore the cursor and answer its first page again.
		Problem(c, &errs.Error{Code: errs.Invalid, Message: "bad pagination",
			Fields: []errs.FieldError{{Field: "after", Message: "this list has no cursor; page it with offset"}}})
		return
	}
	rows, n, next, err := pg.Fetch(p, fn)
	if err != nil {
		Problem(c, err)
		return
	}
	doc := ListDoc[D]{Items: make([]D, len(rows)), Limit: p.Limit, Offset: p.Offset}
	for i, r := range rows {
		doc.Items[i] = as(r)
	}
	doc.Total, doc.TotalCapped = pg.Total(n)
	if next != "" {
		doc.Next = &next
		u := *c.Request.URL
		q := u.Query()
		q.Set("after", next)
		q.Del("offset")
		u.RawQuery = q.Encode()
		c.Header("Link", "<"+u.RequestURI()+`>; rel="next"`)
	}
	c.JSON(http.StatusOK, doc)
}

// BadQuery is the problem of a query parameter that cannot be read: Invalid, naming the parameter.
func BadQuery(field, msg string) error {
	return &errs.Error{Code: errs.Invalid, Message: "bad query parameter", Fields: []errs.FieldError{{Field: field, Message: msg}}}
}

// WithID runs fn with the path's :id, or answers 404 for an id that cannot exist.
func WithID(c *gin.Context, fn func(id int64)) {
	id, err := ID(c, "id")
	if err != nil {
		Problem(c, err)
		return
	}
	fn(id)
}

// QueryTime parses an RFC 3339 query parameter; zero when absent. Errors: Invalid naming the parameter.
func QueryTime(c *gin.Context, name string) (time.Time, error) {
	s := c.Query(name)
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, BadQuery(name, "must be an RFC 3339 time, e.g. 2026-11-24T10:00:00Z")
	}
	return t, nil
}

// QueryRange parses the from and to query parameters (RFC 3339; zero when absent). Errors: Invalid naming the
// parameter.
func QueryRange(c *gin.Context) (from, to time.Time, err error) {
	if from, err = QueryTime(c, "from"); err != nil {
		return
	}
	to, err = QueryTime(c, "to")
	return
}
