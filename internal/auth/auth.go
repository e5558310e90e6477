// Package auth knows who is asking: organisations with one role each, their API keys (stored only as hashes),
// and the Principal that the HTTP layer puts in the request context.
package auth

import (
	"context"
	"slices"
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
)

// Roles lists every role, for validation and help text.
var Roles = []Role{RoleAdmin, RoleCoordinator, RoleBase, RoleBuyer, RoleGateway}

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
