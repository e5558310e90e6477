// Package api is Suilong's HTTP surface: the gin engine with its middleware (request ids, access logs, panic
// recovery, metrics, authentication), the operational routes, the OpenAPI document, and the modules through
// which each domain adds its routes. It translates HTTP to calls of the domains and holds no business rules.
package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
)

// Module is one domain's routes. v1 is /api/v1 behind authentication (every route there has a principal);
// root is for public pages and the module's own sign-in flows.
type Module interface {
	Routes(v1 *gin.RouterGroup, root *gin.Engine)
}

// Authenticator is implemented by a module that can identify a caller by other means than an API key (the
// dashboard's session cookie). It returns ok=false when the request carries none of its credentials.
type Authenticator interface {
	Authenticate(r *http.Request) (p auth.Principal, ok bool, err error)
}

// Check is a readiness check of one dependency.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Options configure the server.
type Options struct {
	Addr     string
	Logger   *slog.Logger
	Auth     *auth.Store
	Checks   []Check
	Modules  []Module
	Registry *prometheus.Registry // also served at /metrics
	Version  string
	// DrainTimeout bounds how long shutdown waits for requests in flight.
	DrainTimeout time.Duration
	// TrustedProxies are the addresses or CIDRs of reverse proxies whose X-Forwarded-For names the client (for
	// rate limits and logs). None: the connection's address is the client, whatever the headers say.
	TrustedProxies []string
}

// Server is the HTTP server.
type Server struct {
	Engine *gin.Engine
	opts   Options
	srv    *http.Server
	mu     sync.Mutex
	ln     net.Listener
}

// New builds the engine with every route.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Registry == nil {
		opts.Registry = prometheus.NewRegistry()
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = 20 * time.Second
	}
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	if err := e.SetTrustedProxies(opts.TrustedProxies); err != nil {
		// Config validation refuses bad entries before this; trust nobody rather than everybody.
		opts.Logger.Error("api: bad trusted proxies; trusting none", "err", err)
		_ = e.SetTrustedProxies(nil)
	}
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	m := newHTTPMetrics(opts.Registry)
	e.Use(requestID(), accessLog(opts.Logger), m.middleware(), recovery(opts.Logger))
	e.NoRoute(func(c *gin.Context) { rest.Problem(c, errs.E(errs.NotFound, "no such route: %s", c.Request.URL.Path)) })
	e.NoMethod(func(c *gin.Context) {
		rest.Problem(c, errs.E(errs.Invalid, "method %s is not allowed on %s", c.Request.Method, c.Request.URL.Path))
	})

	s := &Server{Engine: e, opts: opts}
	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok", "version": opts.Version}) })
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(opts.Registry, promhttp.HandlerOpts{Registry: opts.Registry})))
	e.GET("/api/openapi.yaml", serveSpec)

	var authers []Authenticator
	for _, mod := range opts.Modules {
		if a, ok := mod.(Authenticator); ok {
			authers = append(authers, a)
		}
	}
	v1 := e.Group("/api/v1", authenticate(opts.Auth, authers))
	newOrgs(opts.Auth).Routes(v1, e)
	for _, mod := range opts.Modules {
		mod.Routes(v1, e)
	}
	return s
}

// readyz answers 200 only when every dependency answers, listing each one's state.
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	type result struct {
		Name  string `json:"name"`
		OK    bool   `json:"ok"`
		Error string `json:"error,omitempty"`
	}
	out := make([]result, len(s.opts.Checks))
	var wg sync.WaitGroup
	for i, ch := range s.opts.Checks {
		wg.Go(func() {
			out[i] = result{Name: ch.Name, OK: true}
			if err := ch.Fn(ctx); err != nil {
				out[i] = result{Name: ch.Name, Error: err.Error()}
			}
		})
	}
	wg.Wait()
	status, word := http.StatusOK, "ready"
	for _, r := range out {
		if !r.OK {
			status, word = http.StatusServiceUnavailable, "not ready"
		}
	}
	c.JSON(status, gin.H{"status": word, "checks": out})
}

// Listen binds the address, so that callers learn a port-0 address before Serve.
func (s *Server) Listen() (net.Addr, error) {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.ln = ln
	s.mu.Unlock()
	return ln.Addr(), nil
}

// Serve serves until ctx ends, then stops accepting and drains requests in flight for up to DrainTimeout.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	if ln == nil {
		var err error
		if _, err = s.Listen(); err != nil {
			return err
		}
		ln = s.ln
	}
	s.srv = &http.Server{
		Handler:           s.Engine,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.opts.Logger.Info("http: draining requests", "timeout", s.opts.DrainTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.DrainTimeout)
	defer cancel()
	err := s.srv.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	return err
}

var validRequestID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestID takes a client's X-Request-ID when it is sane (so a trace spans systems) or makes one.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-ID")
		if !validRequestID.MatchString(id) {
			var b [8]byte
			_, _ = rand.Read(b[:])
			id = hex.EncodeToString(b[:])
		}
		c.Set(rest.RequestIDKey, id)
		c.Header("X-Request-ID", id)
		c.Next()
	}
}

// accessLog logs one line per request. It logs the path without the query string, which may carry tokens.
func accessLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		p, _ := auth.FromContext(c.Request.Context())
		status := statusOf(c)
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		log.LogAttrs(c.Request.Context(), level, "http request",
			slog.String("request_id", c.GetString(rest.RequestIDKey)),
			slog.String("method", c.Request.Method),
			slog.String("path", c.Request.URL.Path),
			slog.String("route", c.FullPath()),
			slog.Int("status", status),
			slog.Int("bytes", c.Writer.Size()),
			slog.Duration("took", time.Since(start)),
			slog.String("client", c.ClientIP()),
			slog.String("org", p.OrgName),
		)
	}
}

// statusOf is the status a request is logged and counted with: what the handler wrote, except that a server
// error answered to a client that had gone away is rest.StatusClientClosed (the handler's work failed because
// its context was canceled with the connection; nobody got the answer).
func statusOf(c *gin.Context) int {
	s := c.Writer.Status()
	if s >= 500 && rest.ClientGone(c) {
		return rest.StatusClientClosed
	}
	return s
}

// recovery turns a panic into a 500 problem and a logged stack, keeping the process alive. A panic that only
// says the connection is gone (a write to a closed connection, http.ErrAbortHandler) is the client's leaving.
func recovery(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if err, ok := rec.(error); ok && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) ||
				errors.Is(err, http.ErrAbortHandler)) {
				c.Abort()
				c.Status(rest.StatusClientClosed)
				return
			}
			log.ErrorContext(c.Request.Context(), "panic in handler", "panic", rec, "path", c.Request.URL.Path,
				"request_id", c.GetString(rest.RequestIDKey), "stack", string(debug.Stack()))
			rest.Problem(c, errs.E(errs.Internal, "internal error"))
		}()
		c.Next()
	}
}

// authenticate puts the caller in the request context: a bearer API key, or any module's credentials (the
// dashboard session). Requests with neither get 401.
func authenticate(store *auth.Store, others []Authenticator) gin.HandlerFunc {
	return func(c *gin.Context) {
		var p auth.Principal
		h := c.GetHeader("Authorization")
		switch {
		case h != "":
			scheme, token, _ := strings.Cut(h, " ")
			if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
				rest.Problem(c, errs.E(errs.Unauthorized, "Authorization must be \"Bearer <api key>\""))
				return
			}
			var err error
			if p, err = store.Authenticate(c.Request.Context(), strings.TrimSpace(token)); err != nil {
				rest.Problem(c, err)
				return
			}
		default:
			found := false
			for _, a := range others {
				q, ok, err := a.Authenticate(c.Request)
				if err != nil {
					rest.Problem(c, err)
					return
				}
				if ok {
					p, found = q, true
					break
				}
			}
			if !found {
				rest.Problem(c, errs.E(errs.Unauthorized, "authentication required: send Authorization: Bearer <api key>"))
				return
			}
		}
		c.Request = c.Request.WithContext(auth.WithPrincipal(c.Request.Context(), p))
		c.Next()
	}
}
