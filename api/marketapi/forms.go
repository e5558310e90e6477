package marketapi

import (
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/matching"
	"github.com/suilong/suilong/matching/solve"
	"github.com/suilong/suilong/trace"
)

// form is what a person typed into one form and what is wrong with it: shown again on an error, so nothing
// typed is lost, with each fault under the field it names.
//
// A refused form is answered with the page itself, status 422, not with a redirect: a redirect would lose
// what was typed (the pages keep no drafts and run no script), and 422 still tells a test or a tool that
// nothing was changed. The browser shows the page all the same.
type form struct {
	Values map[string]string
	Multi  map[string]map[string]bool // checkbox groups: name → checked values
	Errs   map[string]string          // field (without an index) → the domain's message
	List   []errs.FieldError
	// Failed is the form-level refusal that names no field (a conflict with the record's state).
	Failed, FailedEN string
}

func newForm() *form {
	return &form{Values: map[string]string{}, Multi: map[string]map[string]bool{}, Errs: map[string]string{}}
}

// postedForm reads the posted fields (the CSRF token aside) into a form. The token is left out because it
// is the session's, not the person's: the page writes the current one into every form it shows.
func postedForm(c *gin.Context) *form {
	f := newForm()
	// The error is no news: RequireSession has parsed the body already to read the token, and a body it could
	// not read (over its 1 MiB, say) had no token and was refused there.
	_ = c.Request.ParseForm()
	for k, vs := range c.Request.PostForm {
		if k == "csrf" || len(vs) == 0 {
			continue
		}
		f.Values[k] = strings.TrimSpace(vs[0])
		set := map[string]bool{}
		for _, v := range vs {
			set[v] = true
		}
		f.Multi[k] = set
	}
	return f
}

// V is a field's value.
func (f *form) V(k string) string { return f.Values[k] }

// Has reports whether value v of checkbox group k is checked.
func (f *form) Has(k, v string) bool { return f.Multi[k][v] }

// E is the message of the fault in field k ("" when none).
func (f *form) E(k string) string { return f.Errs[k] }

// Bad reports whether the form has faults to show.
func (f *form) Bad() bool { return len(f.List) > 0 || f.Failed != "" }

// add records a fault of field (certifications[2] is shown at certifications). The list at the top keeps the
// index, which says which entry is wrong; under the field, a group of checkboxes has one place for them all.
func (f *form) add(field, msg string) {
	f.List = append(f.List, errs.FieldError{Field: field, Message: msg})
	k, _, _ := strings.Cut(field, "[")
	if f.Errs[k] == "" {
		f.Errs[k] = msg
	} else {
		f.Errs[k] += "; " + msg
	}
}

// refused takes the domain's answer to the form: validation faults go under their fields, a conflict becomes
// the form's notice. It reports false for errors a form cannot show (not found, forbidden, internal), which
// the caller shows as an error page. Those are not the person's typing to fix: a record that is not theirs
// (404), a step their role may not take (403), or a fault of ours; showing the form again would suggest that
// another try could succeed.
func (f *form) refused(err error) bool {
	e := errs.As(err)
	read := map[string]bool{} // fields that could not be read: the domain's word on their stand-in is no news
	for k := range f.Errs {
		read[k] = true
	}
	switch {
	case e == nil:
		return false
	case e.Code == errs.Unprocessable || e.Code == errs.Invalid:
		for _, fe := range e.Fields {
			if k, _, _ := strings.Cut(fe.Field, "["); !read[k] {
				f.add(fe.Field, fe.Message)
			}
		}
		// A refusal that names no field is still about what was sent, so it is shown on the form rather
		// than as an error page that would throw the typing away.
		if len(e.Fields) == 0 {
			f.Failed, f.FailedEN = "请求有误，未做任何更改。", e.Message
		}
		return true
	// A conflict is the record's state (withdrawn meanwhile, a round past its close): the form stays, with
	// the domain's reason, so the person sees what changed under them and what they had typed.
	case e.Code == errs.Conflict:
		f.Failed, f.FailedEN = "操作与当前状态冲突，未做任何更改。", e.Message
		return true
	}
	return false
}

// The parsers below read a field of the form as the domain wants it. A value that cannot be read is a fault
// of that field, and the parser returns a value the domain refuses in its place (-1, NaN, the year 1900): the
// domain is then asked all the same, refuses, and names every other field at fault too, so the person fixes
// everything at once. An empty optional value is nil.

// invalidTime stands in for a time that could not be read: every time field refuses it (before 2000).
var invalidTime = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)

func (f *form) int(k string) int64 {
	s := f.V(k)
	if s == "" {
		return 0 // the domain says what is required
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f.add(k, "must be a whole number, not "+strconv.Quote(s))
		return -1
	}
	return v
}

// fen reads an amount of CNY. A leading ¥ (or the full-width ￥ a Chinese input method types) is what people
// write before a price, so it is not a fault. ParseFen refuses a third decimal rather than round it: money
// stays exact to the fen, and the person learns that 3.205 was not taken as they meant.
func (f *form) fen(k string) *matching.Fen {
	s := strings.TrimPrefix(strings.TrimPrefix(f.V(k), "¥"), "￥")
	if s == "" {
		return nil
	}
	v, err := solve.ParseFen(s)
	if err != nil {
		f.add(k, err.Error())
		v = -1
	}
	return &v
}

func (f *form) float(k string) *float64 {
	s := f.V(k)
	if s == "" {
		return nil
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		f.add(k, "must be a number such as 3.5, not "+strconv.Quote(s))
		v = math.NaN()
	}
	return &v
}

// localLayout is the value of an <input type="datetime-local">, read in the platform's time zone (UTC+8).
// Such an input carries no zone, and the people who type into it are in Longyan and Guangzhou, both China
// time all year (no daylight saving), whatever the server's own zone is: a container's is often UTC.
const localLayout = "2006-01-02T15:04"

func (f *form) time(k string) *time.Time {
	s := f.V(k)
	if s == "" {
		return nil
	}
	t, err := time.ParseInLocation(localLayout, s, web.CST)
	// Some browsers send seconds too (15:04:05); it is the same input.
	if err != nil {
		t, err = time.ParseInLocation(localLayout+":05", s, web.CST)
	}
	if err != nil {
		f.add(k, "must be a date and time such as 2026-11-20T06:00, not "+strconv.Quote(s))
		t = invalidTime
	}
	return &t
}

// required is a field an update must not leave empty (nil would keep the old value unseen): empty, it is a
// fault, and the domain gets a value it refuses.
func (f *form) requiredFen(k string, v *matching.Fen) *matching.Fen {
	if v == nil {
		f.add(k, "is required (CNY per kg, e.g. 3.20)")
		bad := matching.Fen(-1)
		return &bad
	}
	return v
}

// requiredTime is required for a time, as requiredFen for an amount.
func (f *form) requiredTime(k string, v *time.Time) *time.Time {
	if v == nil {
		f.add(k, "is required")
		return &invalidTime
	}
	return v
}

// list is the checked values of a checkbox group among those the form offers, in the form's order (hence
// sameSet when comparing with a record's). A value posted by hand outside the offered ones is dropped: the
// form could not have sent it.
func (f *form) list(k string, known []string) []string {
	out := []string{}
	for _, v := range known {
		if f.Has(k, v) {
			out = append(out, v)
		}
	}
	return out
}

// local is a time as a datetime-local input's value, in China time as the form reads it back. An unset time
// is an empty input rather than 0001-01-01T08:00, which would look like a value to keep.
// keptTime is a required time field of a change form: nil (kept as it is) when it comes back as the form
// showed was, to the minute, so that a record posted through the API with seconds is not given new terms
// (and its proposed allocations withdrawn) by a change of its note.
func (f *form) keptTime(k string, was time.Time) *time.Time {
	if f.V(k) == local(was) {
		return nil
	}
	return f.requiredTime(k, f.time(k))
}

func local(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(web.CST).Format(localLayout)
}

// certCodes are the certification codes a form offers, in display order. They are traceability's list, which
// has a name in both languages for each, and which a lot accepts: matching takes any code of the right shape,
// but a code nobody can read helps no buyer, and an offer and the lot it sells should say the same.
func certCodes() []string {
	out := make([]string, len(trace.Certifications))
	for i, c := range trace.Certifications {
		out[i] = string(c)
	}
	return out
}

// fieldWords are the Chinese name and a Chinese note of what each form field wants, shown with the domain's
// English message: the person sees in both languages which field is at fault. They live here, not in the
// domain, because the domain speaks the API's English; the Chinese is the pages' concern. The notes repeat
// the domain's bounds and must follow them when those change.
var fieldWords = map[string][2]string{
	"product":                 {"产品", "请选择产品"},
	"grade":                   {"等级", "1（最好）至 5"},
	"min_grade":               {"可接受的最低等级", "1（最好）至 5"},
	"quantity_kg":             {"数量（公斤）", "请填写 1 至 10,000,000 之间的整数"},
	"min_price_per_kg":        {"最低价（元/公斤）", "请填写金额，最多两位小数，如 3.20"},
	"max_price_per_kg":        {"最高价（元/公斤）", "请填写金额，最多两位小数，如 5.00"},
	"origin":                  {"产地（县区）", "请选择产地"},
	"destination":             {"送达市场", "请选择市场"},
	"harvested_at":            {"采收时间", "请填写日期与时间"},
	"available_from":          {"可发货时间", "不得早于采收时间"},
	"deliver_by":              {"最迟送达时间", "请填写日期与时间"},
	"certifications":          {"认证", "请从列表中选择"},
	"required_certifications": {"要求的认证", "请从列表中选择"},
	"note":                    {"备注", "最多 1000 字"},
	"variety":                 {"品种", "最多 100 字"},
	"base_name":               {"基地名称", "必填，最多 200 字"},
	"county":                  {"产地县", "必填，最多 100 字"},
	"certificate_no":          {"承诺达标合格证编号", "字母、数字与“-”，最多 64 位"},
	"order_id":                {"订单", "须为本基地供应的订单"},
	"at":                      {"时间", "请填写日期与时间，不得晚于现在"},
	"location":                {"收货地点", "最多 200 字"},
	"handover_temp_c":         {"交接温度（°C）", "−60 至 60 °C；填写测温人时必填"},
	"measured_by":             {"测温人", "填写交接温度时必填"},
	"price_rule":              {"定价规则", "请从列表中选择"},
	"name":                    {"名称", "必填，最多 200 字"},
	"opens_at":                {"开始时间", "请填写日期与时间（北京时间）"},
	"closes_at":               {"截止时间", "须晚于开始时间，且在将来"},
	"products":                {"产品", "请从列表中选择"},
	"destinations":            {"送达市场", "请从列表中选择"},
	"deliver_from":            {"送达窗口开始", "请填写日期与时间"},
	"answer_by":               {"答复截止", "不得早于截止时间"},
	"round_id":                {"交易轮次", "须为正在接受报价的轮次"},
	"lot_id":                  {"批次", "须为本基地同一产品的批次"},
	"require_inspection":      {"要求农残检测合格", "勾选即只与检测合格的批次撮合"},
	"weekdays":                {"送达星期", "请从列表中选择"},
	"valid_from":              {"生效日期", "日期，如 2026-12-01"},
	"valid_until":             {"截止日期", "日期，不得早于生效日期"},
	"number":                  {"证书编号", "必填，最多 64 位"},
	"issuer":                  {"发证机构", "最多 200 字"},
	"org_id":                  {"基地", "请选择基地"},
	"result":                  {"检测结果", "请选择合格或不合格"},
	"lab":                     {"检测机构", "必填，最多 200 字"},
	"tested_on":               {"检测日期", "不得早于采收日，不得晚于今天"},
	"report_number":           {"报告编号", "必填，最多 64 位"},
}

// fieldZH falls back on the field's code, so a field added to the domain without words here still shows,
// and its message with it.
func fieldZH(field string) string {
	k, _, _ := strings.Cut(field, "[")
	if w, ok := fieldWords[k]; ok {
		return w[0]
	}
	return k
}

func fieldHint(field string) string {
	k, _, _ := strings.Cut(field, "[")
	return fieldWords[k][1]
}

var funcs = template.FuncMap{
	"fieldZH":   fieldZH,
	"fieldHint": fieldHint,
	"cny":       func(f matching.Fen) string { return "¥" + f.String() },
	"pcny": func(f *matching.Fen) string {
		if f == nil {
			return "—"
		}
		return "¥" + f.String()
	},
	"kg":         kg,
	"local":      local,
	"day":        func(t time.Time) string { return t.In(web.CST).Format("2006-01-02") },
	"pwhen":      pwhen,
	"certZH":     func(c string) string { return nameOr(trace.Certification(c).NameZH(), c) },
	"certEN":     func(c string) string { return nameOr(trace.Certification(c).NameEN(), c) },
	"certs":      certCodes,
	"grades":     func() []int { return []int{1, 2, 3, 4, 5} },
	"itoa":       func(i int) string { return strconv.Itoa(i) },
	"i64":        func(i int64) string { return strconv.FormatInt(i, 10) },
	"statusZH":   func(s any) string { return words(s, false) },
	"statusEN":   func(s any) string { return words(s, true) },
	"decision":   decisionWords,
	"rule":       ruleWords,
	"reasonZH":   reasonZH,
	"reasonEN":   reasonEN,
	"reasons":    reasonLines,
	"weekdaysOf": weekdaysOf,
	// fmap passes several values to a shared template ({{template}} takes one), as the cards and the
	// checkbox groups need.
	"fmap": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
	"fe": func(f *form, k string) fieldErr { return fieldErr{Field: k, Msg: f.E(k)} },
}

// fieldErr is one field's fault, for the template that shows it under the field.
type fieldErr struct{ Field, Msg string }

func nameOr(name, code string) string {
	if name == "" {
		return code
	}
	return name
}

func pwhen(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "—"
	}
	return t.In(web.CST).Format("2006-01-02 15:04")
}

// kg writes kilograms with thousands separators: 12,500 kg.
func kg(v int64) string {
	s := strconv.FormatInt(v, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String() + " kg"
	}
	return b.String() + " kg"
}
