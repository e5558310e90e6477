// Package schemeapi is the HTTP side of the 菜篮子 scheme's own rules: the bases' scheme certificates
// (/api/v1/bases/{org_id}/certifications, and /api/v1/certifications for the list across bases, with those near
// expiry) and the lots' pesticide-residue inspections (/api/v1/lots/{id}/inspections). It translates HTTP to
// calls of package matching (certificates) and package trace (inspections), which decide who may do what:
// coordinators record certificates, a base and buyers read them; a lot's base or a coordinator records its
// inspections, whoever may see the lot reads them.
package schemeapi

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/matching"
	"github.com/suilong/suilong/trace"
)

// Deps are the module's collaborators; either may be nil when its area is not served by this process.
type Deps struct {
	Matching *matching.Store
	Trace    *trace.Service
}

// Module serves the scheme's routes.
type Module struct{ d Deps }

// New returns the module.
func New(d Deps) *Module { return &Module{d: d} }

var (
	staff   = rest.RequireRole(auth.RoleAdmin, auth.RoleCoordinator)
	members = rest.RequireRole(auth.RoleAdmin, auth.RoleCoordinator, auth.RoleBase, auth.RoleBuyer)
)

// Routes registers the routes under /api/v1, each half only where its domain is served (a route there would
// call a nil store). Writes of certificates are staff at the gate: a base must not certify itself.
func (m *Module) Routes(v1 *gin.RouterGroup, _ *gin.Engine) {
	if m.d.Matching != nil {
		v1.GET("/certifications", members, m.listAll)
		v1.GET("/bases/:org_id/certifications", members, m.listOfBase)
		v1.POST("/bases/:org_id/certifications", staff, m.create)
		v1.GET("/bases/:org_id/certifications/:id", members, m.get)
		v1.PATCH("/bases/:org_id/certifications/:id", staff, m.update)
		v1.DELETE("/bases/:org_id/certifications/:id", staff, m.remove)
	}
	if m.d.Trace != nil {
		v1.GET("/lots/:id/inspections", members, m.listInspections)
		// members, not staff: the lot's base records its own results, and trace.Service decides who may.
		v1.POST("/lots/:id/inspections", members, m.recordInspection)
	}
}

// certFilter reads ?product= and ?expiring_within= (days: "30d" or "30", at most ten years).
func certFilter(c *gin.Context, p rest.PageReq) (matching.CertificateFilter, error) {
	f := matching.CertificateFilter{Product: c.Query("product"), Page: p}
	if s, ok := c.GetQuery("expiring_within"); ok {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(s), "d"))
		// Bounded because the day is an int32 added to today: a huge n would wrap into the past.
		if err != nil || n < 0 || n > 3660 {
			return f, rest.BadQuery("expiring_within", "must be a number of days such as 30d (0 to 3660)")
		}
		f.ExpiringWithin = &n
	}
	if s, ok := c.GetQuery("org_id"); ok {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return f, rest.BadQuery("org_id", "must be an organisation id")
		}
		f.OrgID = &id
	}
	return f, nil
}

func (m *Module) listAll(c *gin.Context) {
	rest.ListPage(c, func(p rest.PageReq) ([]matching.Certificate, int, error) {
		f, err := certFilter(c, p)
		if err != nil {
			return nil, 0, err
		}
		return m.d.Matching.Certificates(c, rest.Principal(c), f)
	})
}

func (m *Module) listOfBase(c *gin.Context) {
	org, err := rest.ID(c, "org_id")
	if err != nil {
		rest.Problem(c, err)
		return
	}
	rest.ListPage(c, func(p rest.PageReq) ([]matching.Certificate, int, error) {
		f, err := certFilter(c, p)
		if err != nil {
			return nil, 0, err
		}
		// The path's base wins over ?org_id=, so the store's check is made on the base the URL names.
		f.OrgID = &org
		return m.d.Matching.Certificates(c, rest.Principal(c), f)
	})
}

func (m *Module) create(c *gin.Context) {
	org, err := rest.ID(c, "org_id")
	if err != nil {
		rest.Problem(c, err)
		return
	}
	var req matching.NewCertificate
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	out, err := m.d.Matching.CreateCertificate(c, rest.Principal(c), org, req)
	if err == nil {
		c.Header("Location", "/api/v1/bases/"+strconv.FormatInt(org, 10)+"/certifications/"+strconv.FormatInt(out.ID, 10))
	}
	rest.Reply(c, http.StatusCreated, out, err)
}

// ids reads the path's base and certificate ids. The store looks a certificate up by both, so another base's
// certificate id under this base's path is 404.
func ids(c *gin.Context) (org, id int64, ok bool) {
	org, err := rest.ID(c, "org_id")
	if err == nil {
		id, err = rest.ID(c, "id")
	}
	if err != nil {
		rest.Problem(c, err)
		return 0, 0, false
	}
	return org, id, true
}

func (m *Module) get(c *gin.Context) {
	if org, id, ok := ids(c); ok {
		out, err := m.d.Matching.Certificate(c, rest.Principal(c), org, id)
		rest.Reply(c, http.StatusOK, out, err)
	}
}

func (m *Module) update(c *gin.Context) {
	org, id, ok := ids(c)
	if !ok {
		return
	}
	var req matching.CertificateUpdate
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	out, err := m.d.Matching.UpdateCertificate(c, rest.Principal(c), org, id, req)
	rest.Reply(c, http.StatusOK, out, err)
}

func (m *Module) remove(c *gin.Context) {
	org, id, ok := ids(c)
	if !ok {
		return
	}
	if err := m.d.Matching.DeleteCertificate(c, rest.Principal(c), org, id); err != nil {
		rest.Problem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (m *Module) listInspections(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		list, err := m.d.Trace.Inspections(c, rest.Principal(c), id)
		if err != nil {
			rest.Problem(c, err)
			return
		}
		// Whole, not paged: a lot has a few lab reports (the store stops at 500), in the shape of every list.
		rest.List(c, list, len(list), rest.PageReq{Limit: len(list)})
	})
}

func (m *Module) recordInspection(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		var req trace.NewInspection
		if err := rest.Bind(c, &req); err != nil {
			rest.Problem(c, err)
			return
		}
		out, err := m.d.Trace.RecordInspection(c, rest.Principal(c), id, req)
		// No route reads one inspection, so Location names the lot's list.
		if err == nil {
			c.Header("Location", "/api/v1/lots/"+strconv.FormatInt(id, 10)+"/inspections")
		}
		rest.Reply(c, http.StatusCreated, out, err)
	})
}
