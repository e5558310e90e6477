package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// HealthcheckCmd asks a running serve whether it is alive. It exists for container health checks: the image is
// FROM scratch and has no curl or shell.
type HealthcheckCmd struct {
	URL     string        `help:"URL to GET; default /healthz on the host and port of --http-addr (an unspecified host means this machine)." placeholder:"URL"`
	Timeout time.Duration `default:"3s" help:"Give up after this long."`
}

// Run exits non-zero unless the URL answers 2xx within the timeout.
func (h *HealthcheckCmd) Run(g *Globals) error {
	u := h.URL
	if u == "" {
		var err error
		if u, err = healthzURL(g.Cfg.HTTPAddr); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(g.Ctx, h.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s %s", u, resp.Status, body)
	}
	_, err = fmt.Fprintf(g.Stdout, "%s: %s\n", u, resp.Status)
	return err
}

// healthzURL turns a listen address into the URL of its /healthz as seen from the same machine.
func healthzURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--http-addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}
