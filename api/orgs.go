package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
)

// orgs serves organisations and their API keys. Admins manage everyone; coordinators see everyone; any
// organisation sees itself and manages its own keys.
type orgs struct{ store *auth.Store }

func newOrgs(s *auth.Store) *orgs { return &orgs{store: s} }

func (h *orgs) Routes(v1 *gin.RouterGroup, _ *gin.Engine) {
	v1.GET("/orgs", rest.RequireRole(auth.RoleAdmin, auth.RoleCoordinator), h.list)
	v1.POST("/orgs", rest.RequireRole(auth.RoleAdmin), h.create)
	v1.GET("/orgs/:id", h.get)
	v1.GET("/orgs/:id/keys", h.keys)
	v1.POST("/orgs/:id/keys", h.createKey)
	v1.DELETE("/orgs/:id/keys/:key_id", h.revokeKey)
}

// own resolves the org in the path and checks the caller may act for it. Others' orgs are "not found" to
// non-staff, so that ids cannot be probed.
func (h *orgs) own(c *gin.Context, write bool) (int64, bool) {
	id, err := rest.ID(c, "id")
	if err != nil {
		rest.Problem(c, err)
		return 0, false
	}
	p := rest.Principal(c)
	switch {
	case p.OrgID == id, p.Is(auth.RoleAdmin):
		return id, true
	case p.Is(auth.RoleCoordinator) && !write:
		return id, true
	case p.Is(auth.RoleCoordinator):
		rest.Problem(c, errs.E(errs.Forbidden, "only an admin or the organisation itself may change its keys"))
	default:
		rest.Problem(c, errs.E(errs.NotFound, "organisation not found"))
	}
	return 0, false
}

func (h *orgs) list(c *gin.Context) {
	role := auth.Role(c.Query("role"))
	if role != "" && !role.Valid() {
		rest.Problem(c, &errs.Error{Code: errs.Invalid, Message: "bad filter",
			Fields: []errs.FieldError{{Field: "role", Message: "must be one of " + auth.RoleNames()}}})
		return
	}
	rest.ListPage(c, func(p rest.PageReq) ([]auth.Org, int, error) { return h.store.Orgs(c, role, p) })
}

type createOrgReq struct {
	Name string    `json:"name"`
	Role auth.Role `json:"role"`
}

func (h *orgs) create(c *gin.Context) {
	var req createOrgReq
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	o, err := h.store.CreateOrg(c, req.Name, req.Role)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	c.JSON(http.StatusCreated, o)
}

func (h *orgs) get(c *gin.Context) {
	id, ok := h.own(c, false)
	if !ok {
		return
	}
	o, err := h.store.Org(c, id)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	c.JSON(http.StatusOK, o)
}

func (h *orgs) keys(c *gin.Context) {
	id, ok := h.own(c, false)
	if !ok {
		return
	}
	if _, err := h.store.Org(c, id); err != nil {
		rest.Problem(c, err)
		return
	}
	ks, err := h.store.Keys(c, id)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	rest.List(c, ks, len(ks), rest.PageReq{Limit: len(ks)})
}

type createKeyReq struct {
	Label string `json:"label"`
}

type createKeyResp struct {
	auth.KeyInfo
	Key string `json:"key"`
}

func (h *orgs) createKey(c *gin.Context) {
	id, ok := h.own(c, true)
	if !ok {
		return
	}
	var req createKeyReq
	if c.Request.ContentLength != 0 {
		if err := rest.Bind(c, &req); err != nil {
			rest.Problem(c, err)
			return
		}
	}
	key, info, err := h.store.CreateKey(c, id, req.Label)
	if err != nil {
		rest.Problem(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, createKeyResp{KeyInfo: info, Key: key})
}

func (h *orgs) revokeKey(c *gin.Context) {
	id, ok := h.own(c, true)
	if !ok {
		return
	}
	kid, err := rest.ID(c, "key_id")
	if err != nil {
		rest.Problem(c, err)
		return
	}
	if err := h.store.RevokeKey(c, id, kid); err != nil {
		rest.Problem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
