package notify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Guard keeps the URLs that organisations configure (webhooks, group robots) from reaching into the platform's
// own network: a coordinator's or a carrier's URL must not make the server call its database, its metadata
// service or a neighbour on the LAN (server-side request forgery). URLs must be https, and every address a
// request connects to (after DNS, so a name that resolves to an internal address is caught at the moment of
// connecting) must be a public unicast address, unless it lies in Allow. Redirects are not followed.
type Guard struct {
	// AllowHTTP admits plain http URLs (a relay inside a trusted network; tests).
	AllowHTTP bool
	// Allow lists the internal networks that may be reached all the same (an internal relay; tests).
	Allow []netip.Prefix
}

// ParseAllow reads SUILONG_NOTIFY_ALLOW_NETS: addresses or CIDRs.
func ParseAllow(items []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range items {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("is not a URL")
	}
	return u, nil
}

// CheckURL validates a configured URL at the edge. Errors name what is wrong, for the field's message.
func (g *Guard) CheckURL(raw string) error {
	if len(raw) > 2000 {
		return errors.New("must be at most 2000 bytes")
	}
	u, err := parseURL(raw)
	if err != nil {
		return err
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && g.AllowHTTP:
	case u.Scheme == "http":
		return errors.New("must be https (plain http is refused unless the platform allows it: SUILONG_NOTIFY_ALLOW_HTTP)")
	default:
		return errors.New("must be an https URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return errors.New("must name a host")
	}
	if u.User != nil {
		return errors.New("must not carry a user name or password; put credentials in the secret")
	}
	host := strings.ToLower(u.Hostname())
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		host = "127.0.0.1"
	}
	if a, err := netip.ParseAddr(host); err == nil && !g.allowed(a) {
		return fmt.Errorf("must not point at an internal address (%s); only public addresses may be reached unless the platform allows that network: SUILONG_NOTIFY_ALLOW_NETS", a)
	}
	return nil
}

var special = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 could lead back inside
	netip.MustParsePrefix("2001:db8::/32"),
}

// allowed reports whether a may be connected to: a public unicast address, or one in Allow.
func (g *Guard) allowed(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range g.Allow {
		if p.Contains(a) {
			return true
		}
	}
	if !a.IsGlobalUnicast() || a.IsPrivate() || a.IsLoopback() || a.IsLinkLocalUnicast() {
		return false
	}
	for _, p := range special {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// errBlocked is the error of a connection the guard refused.
var errBlocked = errors.New("the address is internal and not allowed (SUILONG_NOTIFY_ALLOW_NETS)")

// Client returns an HTTP client whose every connection the guard checks, which follows no redirect and uses no
// proxy from the environment (through a proxy, the guard would only see the proxy).
func (g *Guard) Client(timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, Control: func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil || !g.allowed(ap.Addr()) {
			return errBlocked
		}
		return nil
	}}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          20,
		IdleConnTimeout:       60 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: timeout,
	}
	return &http.Client{Timeout: timeout, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
