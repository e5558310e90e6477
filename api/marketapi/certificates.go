package marketapi

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/api/web"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/matching"
	"github.com/suilong/suilong/matching/solve"
)

type certificatesView struct {
	web.Page
	Certs   []matching.Certificate
	Total   int
	Next    string
	Staff   bool
	Bases   []auth.Org // staff: the bases a certificate may be recorded for
	Form    *form
	Ch      choices
	Done    string
	Product string
}

// certificatesPage lists 菜篮子 base certificates, soonest to end first (the domain's order): a base its own,
// coordinators every base's, with the form to record one.
func (m *Module) certificatesPage(c *gin.Context) { m.showCertificates(c, http.StatusOK, newForm()) }

func (m *Module) showCertificates(c *gin.Context, status int, f *form) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	// The domain lets a buyer read every base's certificates (the API serves them), but this page is for
	// keeping them: a buyer relies on the runs to check them and is kept off here.
	if !staffOrBase(p) {
		m.fail(c, errs.E(errs.Forbidden, "the certificates page is for bases and coordinators"))
		return
	}
	v := certificatesView{Page: m.page(c, "菜篮子证书 Certificates", "certificates"), Staff: p.Staff(), Form: f, Done: c.Query("done")}
	var err error
	if v.Certs, v.Total, err = m.d.Matching.Certificates(ctx, p, matching.CertificateFilter{Page: listPage(c)}); err != nil {
		m.fail(c, err)
		return
	}
	v.Next = nextCursor(v.Certs)
	if v.Ch, err = m.choices(ctx); err != nil {
		m.fail(c, err)
		return
	}
	if v.Staff {
		if v.Bases, _, err = m.d.Auth.Orgs(ctx, auth.RoleBase, pg.Page{Limit: pg.MaxLimit}); err != nil {
			m.fail(c, err)
			return
		}
	}
	m.render(c, status, "market-certificates", v)
}

// day reads an optional YYYY-MM-DD field as the domain's day; one that cannot be read is the field's fault.
func (f *form) day(k string) *matching.Day {
	s := f.V(k)
	if s == "" {
		return nil
	}
	d, err := solve.ParseDate(s)
	if err != nil {
		f.add(k, "must be a date such as 2027-06-30, not "+strconv.Quote(s))
		d = solve.DayOf(1900, 1, 1)
	}
	return &d
}

func (m *Module) certificateCreate(c *gin.Context) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	f := postedForm(c)
	ch, err := m.choices(ctx)
	if err != nil {
		m.fail(c, err)
		return
	}
	org := f.int("org_id")
	n := matching.NewCertificate{Number: f.V("number"), Products: f.list("products", ch.productNames()), ValidFrom: f.day("valid_from"),
		ValidUntil: f.day("valid_until"), Issuer: f.V("issuer"), Note: f.V("note")}
	cert, err := m.d.Matching.CreateCertificate(ctx, p, org, n)
	if errs.Is(err, errs.NotFound) && p.Staff() {
		// No such base: the domain looks no further, so this is the one fault to show.
		if f.E("org_id") == "" {
			f.add("org_id", "must be one of the bases listed")
		}
		m.showCertificates(c, http.StatusUnprocessableEntity, f)
		return
	}
	if f.refused(err) {
		m.showCertificates(c, http.StatusUnprocessableEntity, f)
		return
	}
	if err != nil {
		m.fail(c, err)
		return
	}
	done(c, certPath(cert)+"?done=recorded")
}

func certPath(c matching.Certificate) string {
	return "/market/bases/" + strconv.FormatInt(c.OrgID, 10) + "/certificates/" + strconv.FormatInt(c.ID, 10)
}

type certificateView struct {
	web.Page
	C       matching.Certificate
	CanEdit bool
	Form    *form
	Ch      choices
	Done    string
}

func certificateForm(c matching.Certificate) *form {
	f := newForm()
	f.Values["number"], f.Values["issuer"], f.Values["note"] = c.Number, c.Issuer, c.Note
	f.Values["valid_until"] = c.ValidUntil.String()
	if c.ValidFrom != nil {
		f.Values["valid_from"] = c.ValidFrom.String()
	}
	f.Multi["products"] = map[string]bool{}
	for _, p := range c.Products {
		f.Multi["products"][p] = true
	}
	return f
}

// certIDs reads the path's base and certificate ids; another string is a certificate that does not exist.
func certIDs(c *gin.Context) (org, cid int64, err error) {
	org, e1 := strconv.ParseInt(c.Param("org"), 10, 64)
	cid, e2 := strconv.ParseInt(c.Param("id"), 10, 64)
	if e1 != nil || e2 != nil || org <= 0 || cid <= 0 {
		return 0, 0, errs.E(errs.NotFound, "certificate %q not found", c.Param("id"))
	}
	return org, cid, nil
}

func (m *Module) certificatePage(c *gin.Context) {
	org, cid, err := certIDs(c)
	if err != nil {
		m.fail(c, err)
		return
	}
	cert, err := m.d.Matching.Certificate(c.Request.Context(), rest.Principal(c), org, cid)
	if err != nil {
		m.fail(c, err)
		return
	}
	m.showCertificate(c, http.StatusOK, cert, certificateForm(cert))
}

func (m *Module) showCertificate(c *gin.Context, status int, cert matching.Certificate, f *form) {
	ch, err := m.choices(c.Request.Context())
	if err != nil {
		m.fail(c, err)
		return
	}
	m.render(c, status, "market-certificate", certificateView{Page: m.page(c, "菜篮子证书 "+cert.Number+" Certificate", "certificates"),
		// A base cannot certify itself, so only coordinators change a certificate (the domain's rule too).
		C: cert, CanEdit: rest.Principal(c).Staff(), Form: f, Ch: ch, Done: c.Query("done")})
}

func (m *Module) certificateUpdate(c *gin.Context) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	org, cid, err := certIDs(c)
	if err != nil {
		m.fail(c, err)
		return
	}
	cert, err := m.d.Matching.Certificate(ctx, p, org, cid)
	if err != nil {
		m.fail(c, err)
		return
	}
	f := postedForm(c)
	ch, err := m.choices(ctx)
	if err != nil {
		m.fail(c, err)
		return
	}
	number, issuer, note := f.V("number"), f.V("issuer"), f.V("note")
	prods := f.list("products", ch.productNames())
	u := matching.CertificateUpdate{Number: &number, Products: &prods, Issuer: &issuer, Note: &note, ValidFrom: f.day("valid_from"),
		ClearValidFrom: f.V("valid_from") == "" && cert.ValidFrom != nil}
	if u.ValidUntil = f.day("valid_until"); u.ValidUntil == nil {
		f.add("valid_until", "is required (the last day the certificate is valid, e.g. 2027-06-30)")
		bad := solve.DayOf(1900, 1, 1)
		u.ValidUntil = &bad
	}
	if _, err := m.d.Matching.UpdateCertificate(ctx, p, org, cid, u); err != nil {
		if f.refused(err) {
			m.showCertificate(c, http.StatusUnprocessableEntity, cert, f)
			return
		}
		m.fail(c, err)
		return
	}
	done(c, certPath(cert)+"?done=saved")
}

// dueCertificates are the certificates to show on a start page: those ending within ExpiringSoonDays and the
// latest that have ended (of the caller's own base, or every base's for staff).
func (m *Module) dueCertificates(c *gin.Context) ([]matching.Certificate, error) {
	ctx, p := c.Request.Context(), rest.Principal(c)
	soon := matching.ExpiringSoonDays
	due, _, err := m.d.Matching.Certificates(ctx, p, matching.CertificateFilter{ExpiringWithin: &soon, Page: matching.Page{Limit: 20}})
	if err != nil {
		return nil, err
	}
	// Soonest to end first: the expired lead the full list; keep the ten most recently ended.
	all, _, err := m.d.Matching.Certificates(ctx, p, matching.CertificateFilter{Page: matching.Page{Limit: pg.MaxLimit}})
	var ended []matching.Certificate
	for _, c := range all {
		if c.Expired {
			ended = append(ended, c)
		}
	}
	if len(ended) > 10 {
		ended = ended[len(ended)-10:]
	}
	return append(ended, due...), err
}
