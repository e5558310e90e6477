// Package matchingapi is the HTTP side of the 菜篮子 matching: product profiles and lanes (kept by coordinators),
// the bases' offers and the buyers' demands, matching runs, allocations with their acceptance, and orders with
// the lots that ship them. It translates HTTP to calls of package matching, which holds every rule, including
// who may see what.
package matchingapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/matching"
)

// LotRef is a lot that ships an order, as the order's parties see it. URL is the lot's public page /t/{code}:
// DESIGN.md "Matching" has the buyer follow the shipment there, so the order carries the link.
type LotRef struct {
	Code       string `json:"code"`
	URL        string `json:"url"`
	Product    string `json:"product"`
	QuantityKg int64  `json:"quantity_kg"`
}

// Deps are the module's collaborators. Lots may be nil (orders then list no lots).
type Deps struct {
	Store *matching.Store
	// Lots returns the lots linked to an order: a function cmd/suilong plugs in (lotsOfOrder), so this package
	// need not import trace. It takes no principal: it is called only for an order the caller may see.
	Lots func(ctx context.Context, orderID int64) ([]LotRef, error)
}

// Module serves the matching routes.
type Module struct{ d Deps }

// New returns the module.
func New(d Deps) *Module { return &Module{d: d} }

// staff is for what no organisation does for itself; members keeps gateways and carriers out of the market.
// The finer rules are matching.Store's, because the /market pages (package marketapi) call the same store.
var (
	staff   = rest.RequireRole(auth.RoleAdmin, auth.RoleCoordinator)
	members = rest.RequireRole(auth.RoleAdmin, auth.RoleCoordinator, auth.RoleBase, auth.RoleBuyer)
)

// Routes registers the routes under /api/v1. Role checks here are the coarse gate; the store decides what each
// organisation sees (its own offers, demands, allocations, orders) and answers "not found" for the rest.
func (m *Module) Routes(v1 *gin.RouterGroup, _ *gin.Engine) {
	// Products and lanes are the shared reference data of DESIGN.md "Matching". Every member reads them (an
	// offer names a product, a lane decides whether it can reach a market at all); the store takes no
	// principal for them, so the staff gate on writes is their whole check.
	v1.GET("/products", members, m.listProducts)
	v1.POST("/products", staff, m.createProduct)
	v1.GET("/products/:name", members, m.getProduct)
	v1.PATCH("/products/:name", staff, m.updateProduct)

	v1.GET("/lanes", members, m.listLanes)
	v1.POST("/lanes", staff, m.createLane)
	v1.GET("/lanes/:id", members, m.getLane)
	v1.PATCH("/lanes/:id", staff, m.updateLane)
	v1.DELETE("/lanes/:id", staff, m.deleteLane)

	// Offers and demands admit all members here; the store answers 403 to the wrong role and 404 for another
	// organisation's record, so an id does not tell a competitor that the record exists.
	v1.GET("/offers", members, m.listOffers)
	v1.POST("/offers", members, m.createOffer)
	v1.GET("/offers/:id", members, m.getOffer)
	v1.PATCH("/offers/:id", members, m.updateOffer)
	// DELETE does not delete: allocations and orders refer to the offer, so it is withdrawn and the withdrawn
	// record comes back (200, not 204). The POST form does the same under a name that says so.
	v1.DELETE("/offers/:id", members, m.withdrawOffer)
	v1.POST("/offers/:id/withdraw", members, m.withdrawOffer)

	v1.GET("/demands", members, m.listDemands)
	v1.POST("/demands", members, m.createDemand)
	v1.GET("/demands/:id", members, m.getDemand)
	v1.PATCH("/demands/:id", members, m.updateDemand)
	v1.DELETE("/demands/:id", members, m.withdrawDemand)
	v1.POST("/demands/:id/withdraw", members, m.withdrawDemand)

	// Runs are coordinators' alone: a run shows both sides' prices and the surplus between them.
	v1.GET("/matching/runs", staff, m.listRuns)
	v1.POST("/matching/runs", staff, m.startRun)
	v1.GET("/matching/runs/:id", staff, m.getRun)

	// Accept and decline are for the two parties; a coordinator passes the gate and is refused by the store
	// (403), since nobody answers for a base or a buyer.
	v1.GET("/allocations", members, m.listAllocations)
	v1.GET("/allocations/:id", members, m.getAllocation)
	v1.POST("/allocations/:id/accept", members, m.decide(matching.Accepted))
	v1.POST("/allocations/:id/decline", members, m.decide(matching.Declined))

	v1.GET("/orders", members, m.listOrders)
	v1.GET("/orders/:id", members, m.getOrder)

	m.roundRoutes(v1)
	m.standingRoutes(v1)
}

// page is the domain's page of a request's (the same type: pg.Page).
func page(p rest.PageReq) matching.Page { return p }

// --- products and lanes. Products are addressed by name, not id: the slug offers and demands refer to and
// the matching file format uses (DESIGN.md "Matching"). That name, and a lane's two places (its identity),
// are not in the Update types, so Bind refuses them as unknown fields instead of ignoring them.

func (m *Module) listProducts(c *gin.Context) {
	rest.ListPage(c, func(p rest.PageReq) ([]matching.Product, int, error) { return m.d.Store.Products(c, page(p)) })
}

func (m *Module) createProduct(c *gin.Context) {
	var req matching.Product
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	p, err := m.d.Store.CreateProduct(c, req)
	rest.Reply(c, http.StatusCreated, p, err)
}

func (m *Module) getProduct(c *gin.Context) {
	p, err := m.d.Store.Product(c, c.Param("name"))
	rest.Reply(c, http.StatusOK, p, err)
}

func (m *Module) updateProduct(c *gin.Context) {
	var req matching.ProductUpdate
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	p, err := m.d.Store.UpdateProduct(c, c.Param("name"), req)
	rest.Reply(c, http.StatusOK, p, err)
}

func (m *Module) listLanes(c *gin.Context) {
	rest.ListPage(c, func(p rest.PageReq) ([]matching.Lane, int, error) {
		return m.d.Store.Lanes(c, matching.LaneFilter{Origin: c.Query("origin"), Destination: c.Query("destination"), Page: page(p)})
	})
}

func (m *Module) createLane(c *gin.Context) {
	var req matching.NewLane
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	l, err := m.d.Store.CreateLane(c, req)
	rest.Reply(c, http.StatusCreated, l, err)
}

func (m *Module) getLane(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		l, err := m.d.Store.Lane(c, id)
		rest.Reply(c, http.StatusOK, l, err)
	})
}

func (m *Module) updateLane(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		var req matching.LaneUpdate
		if err := rest.Bind(c, &req); err != nil {
			rest.Problem(c, err)
			return
		}
		l, err := m.d.Store.UpdateLane(c, id, req)
		rest.Reply(c, http.StatusOK, l, err)
	})
}

// deleteLane really deletes (204): no row refers to a lane, as allocations keep the lane cost they were
// priced with; later runs simply no longer see the route.
func (m *Module) deleteLane(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		if err := m.d.Store.DeleteLane(c, id); err != nil {
			rest.Problem(c, err)
			return
		}
		c.Status(http.StatusNoContent)
	})
}

// --- offers and demands

// filter reads the offer and demand lists' query. An unknown status is a 400, not an empty list that looks like
// "nothing open". It sets no organisation: the store scopes a non-staff caller to its own records.
func filter(c *gin.Context, p matching.Page) (matching.Filter, error) {
	f := matching.Filter{Product: c.Query("product"), Status: matching.Status(c.Query("status")), Page: p}
	if f.Status != "" && f.Status != matching.StatusOpen && f.Status != matching.StatusWithdrawn {
		return f, rest.BadQuery("status", "must be open or withdrawn")
	}
	if s := c.Query("round_id"); s != "" {
		id, err := parseID(s)
		if err != nil {
			return f, rest.BadQuery("round_id", "must be a round id")
		}
		f.RoundID = &id
	}
	return f, nil
}

func (m *Module) listOffers(c *gin.Context) {
	rest.ListPage(c, func(p rest.PageReq) ([]matching.Offer, int, error) {
		f, err := filter(c, page(p))
		if err != nil {
			return nil, 0, err
		}
		return m.d.Store.Offers(c, rest.Principal(c), f)
	})
}

func (m *Module) createOffer(c *gin.Context) {
	// NewOffer has no org_id and no priority_bonus_per_kg: the owner is the caller's organisation, and the
	// bonus is the plan's favour, set by a coordinator later (PATCH). Sending either is refused as unknown.
	var req matching.NewOffer
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	o, err := m.d.Store.CreateOffer(c, rest.Principal(c), req)
	rest.Reply(c, http.StatusCreated, o, err)
}

func (m *Module) getOffer(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		o, err := m.d.Store.Offer(c, rest.Principal(c), id)
		rest.Reply(c, http.StatusOK, o, err)
	})
}

// updateOffer: the product and the round are not in OfferUpdate, so they cannot change (another product is
// another offer). New terms withdraw the offer's proposed allocations, in the store.
func (m *Module) updateOffer(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		var req matching.OfferUpdate
		if err := rest.Bind(c, &req); err != nil {
			rest.Problem(c, err)
			return
		}
		o, err := m.d.Store.UpdateOffer(c, rest.Principal(c), id, req)
		rest.Reply(c, http.StatusOK, o, err)
	})
}

// withdrawOffer is idempotent (withdrawing twice answers the withdrawn offer again), so a client may retry it.
func (m *Module) withdrawOffer(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		o, err := m.d.Store.WithdrawOffer(c, rest.Principal(c), id)
		rest.Reply(c, http.StatusOK, o, err)
	})
}

func (m *Module) listDemands(c *gin.Context) {
	rest.ListPage(c, func(p rest.PageReq) ([]matching.Demand, int, error) {
		f, err := filter(c, page(p))
		if err != nil {
			return nil, 0, err
		}
		return m.d.Store.Demands(c, rest.Principal(c), f)
	})
}

func (m *Module) createDemand(c *gin.Context) {
	var req matching.NewDemand
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	d, err := m.d.Store.CreateDemand(c, rest.Principal(c), req)
	rest.Reply(c, http.StatusCreated, d, err)
}

func (m *Module) getDemand(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		d, err := m.d.Store.Demand(c, rest.Principal(c), id)
		rest.Reply(c, http.StatusOK, d, err)
	})
}

func (m *Module) updateDemand(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		var req matching.DemandUpdate
		if err := rest.Bind(c, &req); err != nil {
			rest.Problem(c, err)
			return
		}
		d, err := m.d.Store.UpdateDemand(c, rest.Principal(c), id, req)
		rest.Reply(c, http.StatusOK, d, err)
	})
}

func (m *Module) withdrawDemand(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		d, err := m.d.Store.WithdrawDemand(c, rest.Principal(c), id)
		rest.Reply(c, http.StatusOK, d, err)
	})
}

// --- runs, allocations, orders

func (m *Module) startRun(c *gin.Context) {
	var opt matching.RunOptions
	// The body is optional: an empty one runs with the default price rule (midpoint, set by the store). A
	// chunked body has ContentLength -1 and is read; if it turns out empty, isEmptyBody forgives that too.
	if c.Request.ContentLength != 0 {
		if err := rest.Bind(c, &opt); err != nil && !isEmptyBody(err) {
			rest.Problem(c, err)
			return
		}
	}
	run, err := m.d.Store.StartRun(c, rest.Principal(c), opt)
	rest.Reply(c, http.StatusCreated, run, err)
}

func isEmptyBody(err error) bool {
	e := errs.As(err)
	return e != nil && e.Code == errs.Invalid && e.Message == rest.EmptyBody
}

func (m *Module) listRuns(c *gin.Context) {
	rest.ListPage(c, func(p rest.PageReq) ([]matching.Run, int, error) {
		return m.d.Store.Runs(c, rest.Principal(c), page(p))
	})
}

func (m *Module) getRun(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		run, err := m.d.Store.GetRun(c, rest.Principal(c), id)
		rest.Reply(c, http.StatusOK, run, err)
	})
}

func (m *Module) listAllocations(c *gin.Context) {
	rest.ListPage(c, func(p rest.PageReq) ([]matching.Allocation, int, error) {
		f := matching.AllocationFilter{Status: matching.AllocStatus(c.Query("status")), Page: page(p)}
		switch f.Status {
		case "", matching.AllocProposed, matching.AllocOrdered, matching.AllocDeclined, matching.AllocWithdrawn, matching.AllocLapsed:
		default:
			return nil, 0, rest.BadQuery("status", "must be proposed, ordered, declined, withdrawn or lapsed")
		}
		if s := c.Query("run_id"); s != "" {
			id, err := parseID(s)
			if err != nil {
				return nil, 0, rest.BadQuery("run_id", "must be a run id")
			}
			f.RunID = &id
		}
		return m.d.Store.Allocations(c, rest.Principal(c), f)
	})
}

func (m *Module) getAllocation(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		a, err := m.d.Store.Allocation(c, rest.Principal(c), id)
		rest.Reply(c, http.StatusOK, a, err)
	})
}

// Decided is the answer to accept or decline: the allocation, and the order when this answer completed one
// (DESIGN.md "Matching": accepted allocations become orders), so the client need not go looking for it.
type Decided struct {
	Allocation matching.Allocation `json:"allocation"`
	Order      *OrderDoc           `json:"order,omitempty"`
}

func (m *Module) decide(d matching.Decision) gin.HandlerFunc {
	return func(c *gin.Context) {
		rest.WithID(c, func(id int64) {
			// 200 even when an order is placed: the resource answered is the allocation. The same answer
			// twice is harmless (a retry gets the allocation, now ordered, without the order: see /orders).
			a, o, err := m.d.Store.Decide(c, rest.Principal(c), id, d)
			if err != nil {
				rest.Problem(c, err)
				return
			}
			out := Decided{Allocation: a}
			if o != nil {
				doc, err := m.orderDoc(c, *o)
				if err != nil {
					rest.Problem(c, err)
					return
				}
				out.Order = &doc
			}
			c.JSON(http.StatusOK, out)
		})
	}
}

// OrderDoc is an order with the lots that ship it.
type OrderDoc struct {
	matching.Order
	Lots []LotRef `json:"lots"`
}

// orderDoc adds the lots to an order the caller may see (the store checked that before). lots is always an
// array, [] before the base registers a lot, so clients need not tell null from empty.
func (m *Module) orderDoc(ctx context.Context, o matching.Order) (OrderDoc, error) {
	doc := OrderDoc{Order: o, Lots: []LotRef{}}
	if m.d.Lots == nil {
		return doc, nil
	}
	lots, err := m.d.Lots(ctx, o.ID)
	if err != nil {
		return doc, err
	}
	if lots != nil {
		doc.Lots = lots
	}
	return doc, nil
}

func (m *Module) listOrders(c *gin.Context) {
	rest.ListPage(c, func(p rest.PageReq) ([]matching.Order, int, error) {
		f := matching.OrderFilter{Status: matching.OrderStatus(c.Query("status")), Page: page(p)}
		if f.Status != "" && f.Status != matching.OrderPlaced && f.Status != matching.OrderDelivered {
			return nil, 0, rest.BadQuery("status", "must be placed or delivered")
		}
		return m.d.Store.Orders(c, rest.Principal(c), f)
	})
}

func (m *Module) getOrder(c *gin.Context) {
	rest.WithID(c, func(id int64) {
		o, err := m.d.Store.Order(c, rest.Principal(c), id)
		if err != nil {
			rest.Problem(c, err)
			return
		}
		doc, err := m.orderDoc(c, o)
		rest.Reply(c, http.StatusOK, doc, err)
	})
}

// parseID reads an id given in the query. Unlike a path id (rest.ID: 404, as an id that cannot exist names
// nothing), a bad one here is input to fix, so callers answer 400 naming the parameter.
func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, errs.E(errs.Invalid, "not an id")
	}
	return id, nil
}
