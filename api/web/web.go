// Package web is what every signed-in page of Suilong shares: the session cookie and its CSRF token, sign-in
// and sign-out, the middleware that keeps pages to signed-in people, and rendering (one layout, one page type,
// one error page). The coordinators' plan pages (/plan), the duty officers' console (/ops) and the bases' and
// buyers' market pages (/market) are modules that use it; it holds no business rules.
package web

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
)

// Deps are the site's collaborators and settings.
type Deps struct {
	Auth *auth.Store
	// Sessions bounds sessions (zero: auth.DefaultSessionPolicy).
	Sessions auth.SessionPolicy
	// SecureCookies marks cookies Secure even when the request did not arrive over TLS (behind a proxy that
	// terminates https); requests over TLS get Secure cookies anyway.
	SecureCookies bool
	// LoginRate and LoginBurst limit sign-in attempts per client IP (per second, burst).
	LoginRate  float64
	LoginBurst int
	Log        *slog.Logger
	// Registry, when set, gets the site's metrics (sign-in attempts by outcome).
	Registry prometheus.Registerer
	// Now is the clock of the pages' "generated at" line (default time.Now).
	Now func() time.Time
}

// Site is the signed-in web. It is an api.Module (sign-in routes) and an api.Authenticator: the session cookie
// authenticates /api/v1 requests too, so that the pages' links to the API (a CSV export) work for a signed-in
// person.
type Site struct {
	d     Deps
	login *rest.Limiter
	// accounts limits attempts per username too, so guesses spread over many addresses stay slow.
	accounts *rest.Limiter
	signins  *prometheus.CounterVec
	base     *Renderer
}

// New returns the site.
func New(d Deps) *Site {
	if d.Sessions.Idle <= 0 || d.Sessions.Absolute <= 0 {
		d.Sessions = auth.DefaultSessionPolicy
	}
	if d.LoginRate <= 0 {
		d.LoginRate = 0.2 // one attempt every five seconds, after the burst
	}
	if d.LoginBurst <= 0 {
		d.LoginBurst = 10
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	s := &Site{d: d, login: rest.NewLimiter(rate.Limit(d.LoginRate), d.LoginBurst),
		accounts: rest.NewLimiter(rate.Every(time.Minute), 2*d.LoginBurst),
		signins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "suilong_plan_signins_total",
			Help: "Sign-in attempts to the web pages by outcome (ok, wrong_password, stale_form, rate_limited); a rise in failures is someone guessing."},
			[]string{"outcome"})}
	if d.Registry != nil {
		if err := d.Registry.Register(s.signins); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				s.signins = are.ExistingCollector.(*prometheus.CounterVec)
			}
		}
	}
	s.base = s.NewRenderer(nil, nil)
	return s
}

// Log is the site's logger, for the page modules.
func (s *Site) Log() *slog.Logger { return s.d.Log }

// Now is the site's clock.
func (s *Site) Now() time.Time { return s.d.Now() }

// Routes registers sign-in and sign-out on root.
func (s *Site) Routes(_ *gin.RouterGroup, root *gin.Engine) {
	root.GET("/login", s.loginPage)
	root.POST("/login", s.loginSubmit)
	root.POST("/logout", s.logout)
}

// CookieName is the session cookie.
const CookieName = "suilong_session"

// CSRFHeader carries the session's CSRF token on state-changing API requests authenticated by the cookie.
const CSRFHeader = "X-CSRF-Token"

func safeMethod(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// Authenticate implements api.Authenticator: a live session cookie is a principal. A state-changing request
// that relies on the cookie must also carry the session's CSRF token in X-CSRF-Token (SameSite=Lax already keeps
// other sites' forms from sending the cookie; the token covers older browsers and same-site attackers).
func (s *Site) Authenticate(r *http.Request) (auth.Principal, bool, error) {
	c, err := r.Cookie(CookieName)
	if err != nil || c.Value == "" {
		return auth.Principal{}, false, nil
	}
	sess, u, err := s.d.Auth.SessionByToken(r.Context(), c.Value)
	if errs.Is(err, errs.Unauthorized) {
		return auth.Principal{}, false, nil
	}
	if err != nil {
		return auth.Principal{}, false, err
	}
	if !safeMethod(r.Method) && !sess.CSRFMatches(r.Header.Get(CSRFHeader)) {
		return auth.Principal{}, false, errs.E(errs.Forbidden, "requests signed in with the dashboard's cookie must send the session's CSRF token in %s", CSRFHeader)
	}
	return u.Principal(), true, nil
}
