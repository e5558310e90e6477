package ingestapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/ingest"
)

// assetReq is what a client may set on a new asset: not its organisation or creation time, which the platform
// owns (ingest.Service decides whose the asset is).
type assetReq struct {
	ID      string           `json:"id"`
	Kind    ingest.AssetKind `json:"kind"`
	Name    string           `json:"name"`
	City    string           `json:"city"`
	Band    ingest.Band      `json:"band"`
	Product string           `json:"product"`
}

func (m *Module) listAssets(c *gin.Context) {
	kind := ingest.AssetKind(c.Query("kind"))
	if kind != "" && kind != ingest.KindTruck && kind != ingest.KindColdStore {
		rest.Problem(c, rest.BadQuery("kind", "must be truck or cold_store"))
		return
	}
	list(c, func(p ingest.Page) ([]ingest.Asset, int, error) {
		return m.s.Assets(c, rest.Principal(c), ingest.AssetFilter{Kind: kind, City: c.Query("city")}, p)
	})
}

func (m *Module) createAsset(c *gin.Context) {
	var req assetReq
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	a, err := m.s.CreateAsset(c, rest.Principal(c), ingest.Asset{ID: req.ID, Kind: req.Kind, Name: req.Name, City: req.City,
		Band: req.Band, Product: req.Product})
	rest.Reply(c, http.StatusCreated, a, err)
}

func (m *Module) getAsset(c *gin.Context) {
	a, err := m.s.Asset(c, rest.Principal(c), c.Param("id"))
	rest.Reply(c, http.StatusOK, a, err)
}

func (m *Module) updateAsset(c *gin.Context) {
	var req ingest.AssetUpdate
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	a, err := m.s.UpdateAsset(c, rest.Principal(c), c.Param("id"), req)
	rest.Reply(c, http.StatusOK, a, err)
}

func (m *Module) deleteAsset(c *gin.Context) {
	if err := m.s.DeleteAsset(c, rest.Principal(c), c.Param("id")); err != nil {
		rest.Problem(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
