package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
)

const (
	userKey    = "web.user"
	sessionKey = "web.session"
)

// site is the header of the site's own pages (sign-in, errors outside a section).
var site = Section{Brand: Brand{ZH: "广州–龙岩对口合作平台", EN: "Guangzhou–Longyan cooperation platform", Href: "/"}}

func (s *Site) secure(r *http.Request) bool { return s.d.SecureCookies || r.TLS != nil }

func (s *Site) setCookie(c *gin.Context, name, value, path string, maxAge int) {
	http.SetCookie(c.Writer, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, Secure: s.secure(c.Request), SameSite: http.SameSiteLaxMode})
}

// session returns the request's live session, if any.
func (s *Site) session(c *gin.Context) (auth.Session, auth.User, bool) {
	ck, err := c.Request.Cookie(CookieName)
	if err != nil || ck.Value == "" {
		return auth.Session{}, auth.User{}, false
	}
	sess, u, err := s.d.Auth.SessionByToken(c.Request.Context(), ck.Value)
	if err != nil {
		if !errs.Is(err, errs.Unauthorized) {
			s.d.Log.Error("web: session lookup failed", "err", err)
		}
		s.setCookie(c, CookieName, "", "/", -1)
		return auth.Session{}, auth.User{}, false
	}
	return sess, u, true
}

// RequireSession lets signed-in people whom allow admits through to a section's pages, sends everyone else to
// the sign-in page to come back where they were going, and checks the CSRF token of every form posted. allow
// nil admits every signed-in person; a person it refuses sees a page saying the section is not theirs.
func (s *Site) RequireSession(sec Section, allow func(auth.Principal) bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		sess, u, ok := s.session(c)
		if !ok {
			next := c.Request.URL.RequestURI()
			if c.Request.Method != http.MethodGet {
				next = c.Request.URL.Path
			}
			c.Redirect(http.StatusSeeOther, "/login?next="+url.QueryEscape(next))
			c.Abort()
			return
		}
		c.Set(sessionKey, sess)
		c.Set(userKey, u)
		c.Request = c.Request.WithContext(auth.WithPrincipal(c.Request.Context(), u.Principal()))
		if allow != nil && !allow(u.Principal()) {
			c.Abort()
			if land := Landing(u.Principal()); c.Request.Method == http.MethodGet && c.Request.URL.Path == sec.Brand.Href && land != sec.Brand.Href {
				c.Redirect(http.StatusSeeOther, land) // the start page of another section: theirs instead
				return
			}
			s.base.message(c, sec, http.StatusForbidden, "这些页面不属于您的账号所在机构的角色。",
				"These pages are not for your organisation's role; the start page shows what is.")
			return
		}
		if c.Request.Method == http.MethodPost {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 1<<20)
			if !sess.CSRFMatches(c.PostForm("csrf")) {
				c.Abort()
				s.base.message(c, sec, http.StatusForbidden, "安全校验失败：表单已过期或来自其他网站，未做任何更改。请返回页面刷新后重试。",
					"Security check failed: the form is stale or came from another site. Nothing was changed; go back, reload the page and try again.")
				return
			}
		}
		c.Next()
	}
}

// Landing is where a person goes after signing in: the market pages for bases and buyers, the console for
// carriers, the plan dashboard for coordinators and admins.
func Landing(p auth.Principal) string {
	switch p.Role {
	case auth.RoleBase, auth.RoleBuyer:
		return "/market"
	case auth.RoleCarrier:
		return "/ops"
	}
	return "/plan"
}

// safeNext keeps the after-sign-in redirect on this site's pages (no open redirect): next when it is one,
// else the plan dashboard, which sends people of other roles on to their own start page.
func safeNext(next string) string {
	if strings.ContainsAny(next, "\\\r\n") || strings.HasPrefix(next, "//") {
		return "/plan"
	}
	for _, prefix := range []string{"/plan", "/ops", "/market", "/api/v1/"} {
		if next == prefix || strings.HasPrefix(next, prefix+"/") || strings.HasPrefix(next, prefix+"?") ||
			(strings.HasSuffix(prefix, "/") && strings.HasPrefix(next, prefix)) {
			return next
		}
	}
	return "/plan"
}

// Sign-in is protected against login CSRF by a double-submit token: a random value in a cookie scoped to
// /login and the same value in the form.
const loginCookie = "suilong_login"

type loginView struct {
	Page
	Username  string
	Next      string
	Token     string
	Error     string
	ErrorEN   string
	SignedOut bool
}

func newToken() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (s *Site) loginPage(c *gin.Context) {
	if _, _, ok := s.session(c); ok {
		c.Redirect(http.StatusSeeOther, safeNext(c.Query("next")))
		return
	}
	s.showLogin(c, http.StatusOK, loginView{Next: safeNext(c.Query("next")), SignedOut: c.Query("out") != ""})
}

func (s *Site) showLogin(c *gin.Context, status int, v loginView) {
	v.Page = s.Page(c, site, "登录 Sign in", "")
	v.Token = newToken()
	s.setCookie(c, loginCookie, v.Token, "/login", 3600)
	s.base.Render(c, status, "login", v)
}

func (s *Site) loginSubmit(c *gin.Context) {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 64<<10)
	v := loginView{Username: strings.TrimSpace(c.PostForm("username")), Next: safeNext(c.PostForm("next"))}
	// The client's address as the trusted proxies tell it (SUILONG_TRUSTED_PROXIES; with none, the connection's
	// own: an X-Forwarded-For from anyone else is ignored, since a guesser would simply vary it), and the account.
	now := s.d.Now()
	if !s.login.Allow(c.ClientIP(), now) || !s.accounts.Allow(strings.ToLower(v.Username), now) {
		c.Header("Retry-After", "60")
		s.signins.WithLabelValues("rate_limited").Inc()
		v.Error, v.ErrorEN = "尝试次数过多，请一分钟后再试。", "Too many attempts; please wait a minute and try again."
		s.showLogin(c, http.StatusTooManyRequests, v)
		return
	}
	ck, err := c.Request.Cookie(loginCookie)
	form := c.PostForm("csrf")
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(form)) != 1 {
		s.signins.WithLabelValues("stale_form").Inc()
		v.Error, v.ErrorEN = "登录表单已过期，请重新输入。", "The sign-in form had expired; please enter your details again."
		s.showLogin(c, http.StatusForbidden, v)
		return
	}
	u, err := s.d.Auth.CheckPassword(c.Request.Context(), v.Username, c.PostForm("password"))
	if errs.Is(err, errs.Unauthorized) {
		s.signins.WithLabelValues("wrong_password").Inc()
		s.d.Log.Info("web: sign-in refused", "username", v.Username, "client", c.ClientIP())
		v.Error, v.ErrorEN = "用户名或密码错误。", "Wrong username or password."
		s.showLogin(c, http.StatusUnauthorized, v)
		return
	}
	if err != nil {
		s.base.Error(c, site, err)
		return
	}
	// A new session on every sign-in, and the old one (if any) ended: no session fixation.
	if old, err := c.Request.Cookie(CookieName); err == nil && old.Value != "" {
		_ = s.d.Auth.DeleteSession(c.Request.Context(), old.Value)
	}
	token, _, err := s.d.Auth.CreateSession(c.Request.Context(), u.ID, s.d.Sessions, c.Request.UserAgent())
	if err != nil {
		s.base.Error(c, site, err)
		return
	}
	s.signins.WithLabelValues("ok").Inc()
	s.d.Log.Info("web: signed in", "user", u.Username, "org", u.OrgName, "client", c.ClientIP())
	s.setCookie(c, CookieName, token, "/", 0)
	s.setCookie(c, loginCookie, "", "/login", -1)
	c.Redirect(http.StatusSeeOther, v.Next)
}

func (s *Site) logout(c *gin.Context) {
	sess, _, ok := s.session(c)
	if !ok {
		c.Redirect(http.StatusSeeOther, "/login")
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 64<<10)
	if !sess.CSRFMatches(c.PostForm("csrf")) {
		s.base.message(c, site, http.StatusForbidden, "安全校验失败，未退出登录。", "Security check failed; you are still signed in.")
		return
	}
	ck, _ := c.Request.Cookie(CookieName)
	if err := s.d.Auth.DeleteSession(c.Request.Context(), ck.Value); err != nil {
		s.base.Error(c, site, err)
		return
	}
	s.setCookie(c, CookieName, "", "/", -1)
	c.Redirect(http.StatusSeeOther, "/login?out=1")
}
