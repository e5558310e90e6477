package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
)

// Console is what the duty officers' console (/ops) sees of the cold chain, and who sees what of it. Admins and
// coordinators see everything. People of an organisation that owns assets (a carrier's trucks, a base's cold
// store, a buyer's warehouse: assets.org_id) see only those assets, their alarms (and acknowledge them), the
// gateways whose org_id is theirs with those gateways' dead letters; everyone else is refused. Other
// organisations' records are "not found", so that ids cannot be probed.
type Console struct {
	Store *Store
	// Products gives the band of an asset's product profile when it carries nothing with a band (optional).
	Products ProductBands
	// Cargo tells what the assets carry now (optional).
	Cargo Cargo
	// Changes, when set, is told of acknowledgements and credential resets made here, exactly as if they were
	// made through the API: the alarm is published, the broker drops the gateway's sessions and external
	// brokers learn the new password.
	Changes *Service
	Now     func() time.Time
}

// Cargo tells what assets carry now: traceability's lots in them (cmd/suilong adapts package trace).
type Cargo interface {
	// OnBoard returns, for each of the assets that carries lots now, those lots. Errors: Internal.
	OnBoard(ctx context.Context, assetIDs []string) (map[string][]Load, error)
}

// Load is a lot on board an asset.
type Load struct {
	LotCode    string    `json:"lot_code"`
	Product    string    `json:"product"`
	ProductZH  string    `json:"product_zh,omitempty"`
	QuantityKg int64     `json:"quantity_kg"`
	Since      time.Time `json:"since"`
	Band       Band      `json:"band"`
}

// NewConsole returns the console's view of store.
func NewConsole(store *Store, products ProductBands, cargo Cargo) *Console {
	return &Console{Store: store, Products: products, Cargo: cargo, Now: time.Now}
}

// Scope is the part of the cold chain a principal sees on the console: all of it, or one organisation's.
type Scope struct {
	All   bool
	OrgID int64
}

// ScopeOf returns what p sees. Errors: Forbidden for roles that own no assets (gateway keys).
func ScopeOf(p auth.Principal) (Scope, error) {
	switch {
	case p.Staff():
		return Scope{All: true}, nil
	case p.Is(auth.RoleCarrier, auth.RoleBase, auth.RoleBuyer):
		return Scope{OrgID: p.OrgID}, nil
	}
	return Scope{}, errs.E(errs.Forbidden, "your organisation's role (%s) has no cold-chain assets", p.Role)
}

// Owns reports whether the scope includes a record of organisation org (nil: no organisation's).
func (s Scope) Owns(org *int64) bool { return s.All || (org != nil && *org == s.OrgID) }

// where returns a condition on assets aliased a (and the next argument) for the scope.
func (s Scope) where(alias string, args *[]any) string {
	if s.All {
		return "true"
	}
	*args = append(*args, s.OrgID)
	return fmt.Sprintf("%s.org_id = $%d", alias, len(*args))
}

func (c *Console) now() time.Time {
	if c.Now == nil {
		return time.Now()
	}
	return c.Now()
}
