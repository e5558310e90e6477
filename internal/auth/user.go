package auth

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
)

// City is the side of the cooperation a coordinator works for.
type City string

// The two cities of the plan.
const (
	CityGuangzhou City = "guangzhou"
	CityLongyan   City = "longyan"
)

// Valid reports whether c is one of the two cities.
func (c City) Valid() bool { return c == CityGuangzhou || c == CityLongyan }

// ZH is the city's Chinese name.
func (c City) ZH() string {
	switch c {
	case CityGuangzhou:
		return "广州"
	case CityLongyan:
		return "龙岩"
	}
	return string(c)
}

// EN is the city's English name.
func (c City) EN() string {
	switch c {
	case CityGuangzhou:
		return "Guangzhou"
	case CityLongyan:
		return "Longyan"
	}
	return string(c)
}

// User is a person who signs in to the dashboard on behalf of an organisation. Role and OrgName are the
// organisation's.
type User struct {
	ID          int64     `json:"id"`
	OrgID       int64     `json:"org_id"`
	OrgName     string    `json:"org_name"`
	Role        Role      `json:"role"`
	Username    string    `json:"username"`
	DisplayName string    `json:"display_name,omitempty"`
	City        City      `json:"city"`
	CreatedAt   time.Time `json:"created_at"`
	Disabled    bool      `json:"disabled,omitempty"`
}

// Principal is the user acting for their organisation.
func (u User) Principal() Principal {
	return Principal{OrgID: u.OrgID, OrgName: u.OrgName, Role: u.Role, UserID: u.ID, Username: u.Username}
}

// Name is what pages call the user: the display name when there is one.
func (u User) Name() string {
	if u.DisplayName != "" {
		return u.DisplayName
	}
	return u.Username
}

// NewUser is a request to create an account.
type NewUser struct {
	OrgID       int64
	Username    string
	DisplayName string
	City        City
	Password    string
}

// Password rules: long enough to resist guessing at bcrypt's speed, and within bcrypt's 72-byte input (longer
// inputs would be cut silently by other implementations; x/crypto refuses them, and so do we, by name).
const (
	MinPasswordLen = 10
	MaxPasswordLen = 72
)

// PasswordCost is the bcrypt cost of new hashes (2^12 rounds: about a quarter of a second on a small server,
// which bounds guessing without making sign-in feel slow). Hashes of a lower cost are upgraded at sign-in.
const PasswordCost = 12

func validUsername(name string) bool {
	if n := utf8.RuneCountInString(name); n < 2 || n > 64 {
		return false
	}
	for _, r := range name {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '.' && r != '_' && r != '-' {
			return false
		}
	}
	return true
}

// ValidatePassword checks the password rules. Errors: Unprocessable naming the field "password".
func ValidatePassword(pw string) error {
	var fe errs.FieldErrors
	switch {
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		fe.Add("password", "must be at least %d characters", MinPasswordLen)
	case len(pw) > MaxPasswordLen:
		fe.Add("password", "must be at most %d bytes", MaxPasswordLen)
	case strings.TrimSpace(pw) != pw:
		fe.Add("password", "must not begin or end with spaces (they are lost too easily when typed)")
	}
	return fe.Err()
}

// CreateUser creates a web account for an organisation whose role signs in (Role.SignsIn). Errors: Unprocessable naming
// the fields at fault (including an organisation of another role), NotFound for an unknown organisation,
// Conflict for a taken username.
func (s *Store) CreateUser(ctx context.Context, n NewUser) (User, error) {
	name := strings.ToLower(strings.TrimSpace(n.Username))
	display := strings.TrimSpace(n.DisplayName)
	var fe errs.FieldErrors
	if !validUsername(name) {
		fe.Add("username", "must be 2 to 64 letters, digits, '.', '_' or '-'")
	}
	if utf8.RuneCountInString(display) > 100 {
		fe.Add("display_name", "must be at most 100 characters")
	}
	if !n.City.Valid() {
		fe.Add("city", "must be guangzhou or longyan")
	}
	if err := ValidatePassword(n.Password); err != nil {
		fe = append(fe, errs.As(err).Fields...)
	}
	org, err := s.Org(ctx, n.OrgID)
	if err != nil {
		return User{}, err
	}
	if !org.Role.Valid() || !org.Role.SignsIn() {
		fe.Add("org", "organisation %q has role %s; web accounts are for people of admin, coordinator, base, buyer and carrier organisations, not gateways", org.Name, org.Role)
	}
	if err := fe.Err(); err != nil {
		return User{}, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(n.Password), PasswordCost)
	if err != nil {
		return User{}, errs.Wrap(errs.Internal, err, "hash password")
	}
	u := User{OrgID: org.ID, OrgName: org.Name, Role: org.Role, Username: name, DisplayName: display, City: n.City}
	err = s.db.QueryRow(ctx, `INSERT INTO users (org_id, username, display_name, city, password_hash, password_changed_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, created_at`, org.ID, name, display, n.City, string(hash), s.Now()).
		Scan(&u.ID, &u.CreatedAt)
	if err != nil {
		return User{}, pg.Err(err, "user "+name)
	}
	return u, nil
}

// SetPassword replaces a user's password and ends every session of theirs (a changed password should lock out
// whoever knew the old one). Errors: Unprocessable for a password that breaks the rules, NotFound.
func (s *Store) SetPassword(ctx context.Context, userID int64, pw string) error {
	if err := ValidatePassword(pw); err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pw), PasswordCost)
	if err != nil {
		return errs.Wrap(errs.Internal, err, "hash password")
	}
	return pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $2, password_changed_at = $3 WHERE id = $1`, userID, string(hash), s.Now())
		if err != nil {
			return pg.Err(err, "user")
		}
		if tag.RowsAffected() == 0 {
			return errs.E(errs.NotFound, "user not found")
		}
		_, err = tx.Exec(ctx, `DELETE FROM user_sessions WHERE user_id = $1`, userID)
		return pg.Err(err, "sessions")
	})
}

const userCols = `u.id, u.org_id, o.name, o.role, u.username, u.display_name, u.city, u.created_at, u.disabled_at IS NOT NULL`

func scanUser(row pgx.Row, extra ...any) (User, error) {
	var u User
	err := row.Scan(append([]any{&u.ID, &u.OrgID, &u.OrgName, &u.Role, &u.Username, &u.DisplayName, &u.City, &u.CreatedAt, &u.Disabled}, extra...)...)
	return u, err
}

// User returns an account by id. Errors: NotFound.
func (s *Store) User(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userCols+` FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.id = $1`, id))
	return u, pg.Err(err, "user")
}

// UserByName returns an account by username (case-insensitive). Errors: NotFound.
func (s *Store) UserByName(ctx context.Context, username string) (User, error) {
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userCols+` FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.username = $1`,
		strings.ToLower(strings.TrimSpace(username))))
	return u, pg.Err(err, "user")
}

// Users lists the accounts of an organisation (all organisations when orgID is 0), by id.
func (s *Store) Users(ctx context.Context, orgID int64) ([]User, error) {
	rows, err := s.db.Query(ctx, `SELECT `+userCols+` FROM users u JOIN orgs o ON o.id = u.org_id
		WHERE $1 = 0 OR u.org_id = $1 ORDER BY u.id`, orgID)
	if err != nil {
		return nil, pg.Err(err, "users")
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) { return scanUser(r) })
	return out, pg.Err(err, "users")
}

var errBadLogin = errs.E(errs.Unauthorized, "wrong username or password")

// dummyHash is compared against when the username is unknown, so that sign-in takes as long for a name that
// does not exist as for a wrong password, and timing does not reveal which names exist.
var dummyHash = sync.OnceValue(func() []byte {
	h, _ := bcrypt.GenerateFromPassword([]byte("no such user, no such password"), PasswordCost)
	return h
})

// CheckPassword returns the user whose username and password these are. Errors: Unauthorized with one message
// for an unknown user, a wrong password, a disabled account or an organisation no longer allowed on the
// dashboard, so that a caller learns nothing about which.
func (s *Store) CheckPassword(ctx context.Context, username, password string) (User, error) {
	var hash string
	u, err := scanUser(s.db.QueryRow(ctx, `SELECT `+userCols+`, u.password_hash FROM users u JOIN orgs o ON o.id = u.org_id
		WHERE u.username = $1`, strings.ToLower(strings.TrimSpace(username))), &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		_ = bcrypt.CompareHashAndPassword(dummyHash(), []byte(password))
		return User{}, errBadLogin
	}
	if err != nil {
		return User{}, pg.Err(err, "user")
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil || u.Disabled || !u.Role.SignsIn() {
		return User{}, errBadLogin
	}
	if cost, err := bcrypt.Cost([]byte(hash)); err == nil && cost < PasswordCost {
		if h, err := bcrypt.GenerateFromPassword([]byte(password), PasswordCost); err == nil {
			_, _ = s.db.Exec(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1`, u.ID, string(h))
		}
	}
	return u, nil
}

// DisableUser stops an account from signing in and ends its sessions. Errors: NotFound.
func (s *Store) DisableUser(ctx context.Context, userID int64) error {
	return pg.WithTx(ctx, s.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE users SET disabled_at = $2 WHERE id = $1 AND disabled_at IS NULL`, userID, s.Now())
		if err != nil {
			return pg.Err(err, "user")
		}
		if tag.RowsAffected() == 0 {
			return errs.E(errs.NotFound, "user not found or already disabled")
		}
		_, err = tx.Exec(ctx, `DELETE FROM user_sessions WHERE user_id = $1`, userID)
		return pg.Err(err, "sessions")
	})
}
