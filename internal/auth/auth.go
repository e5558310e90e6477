// Package auth knows who is asking: organisations with one role each, their API keys (stored only as hashes),
// and the Principal that the HTTP layer puts in the request context.
package auth

import (
	"context"
	"slices"
	"strings"
)

// Role is what an organisation may do.
type Role string

// The roles of DESIGN.md.
const (
	RoleAdmin       Role = "admin"
	RoleCoordinator Role = "coordinator"
	RoleBase        Role = "base"
	RoleBuyer       Role = "buyer"
	RoleGateway     Role = "gateway"
	// RoleCarrier is a logistics company (物流企业) that runs reefer trucks and cold stores: its people see and
	// acknowledge the alarms of its own assets on the duty officers' console and set up its notifications. No
	// route of the other roles admits it.
	RoleCarrier Role = "carrier"
)

// Roles lists every role, for validation and help text.
var Roles = []Role{RoleAdmin, RoleCoordinator, RoleBase, RoleBuyer, RoleGateway, RoleCarrier}

// RoleNames is Roles for messages: "admin, coordinator, …".
func RoleNames() string {
	names := make([]string, len(Roles))
	for i, r := range Roles {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Principal is the caller of a request: an organisation acting through an API key, or a person signed in to the
// dashboard on behalf of their organisation.
type Principal struct {
	OrgID    int64  `json:"org_id"`
	OrgName  string `json:"org_name"`
	Role     Role   `json:"role"`
	KeyID    int64  `json:"key_id,omitempty"`
	UserID   int64  `json:"user_id,omitempty"`
	Username string `json:"username,omitempty"`
}

// Is reports whether the principal has one of roles.
func (p Principal) Is(roles ...Role) bool { return slices.Contains(roles, p.Role) }

// Staff reports whether the principal sees across organisations (admins and coordinators).
func (p Principal) Staff() bool { return p.Is(RoleAdmin, RoleCoordinator) }

// SignsIn reports whether people of an organisation of role r may have accounts on the web pages: coordinators
// and admins (the plan, the console), carriers (the console, for their own assets), and bases and buyers (the
// market pages, for their own offers, demands and orders). Gateways are machines and never sign in.
func (r Role) SignsIn() bool { return r != RoleGateway && r.Valid() }

// Actor names the principal in audit records: the user when a person acts, else the organisation.
func (p Principal) Actor() string {
	if p.Username != "" {
		return p.Username + "@" + p.OrgName
	}
	return p.OrgName
}

type ctxKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal of ctx, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}
