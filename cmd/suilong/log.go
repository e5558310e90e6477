package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"github.com/alecthomas/kong"
)

// Globals is what every subcommand receives.
type Globals struct {
	Ctx    context.Context
	Cfg    *Config
	Log    *slog.Logger
	Stdout io.Writer
	Stdin  io.Reader
	kctx   *kong.Context
}

func newGlobals(ctx context.Context, cfg *Config, kctx *kong.Context) *Globals {
	return &Globals{Ctx: ctx, Cfg: cfg, Log: newLogger(cfg, os.Stderr), Stdout: os.Stdout, Stdin: os.Stdin, kctx: kctx}
}

func newLogger(cfg *Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	l := slog.New(h)
	slog.SetDefault(l)
	return l
}

// logConfig logs every flag's value, masking secrets (and the password inside a URL).
func (g *Globals) logConfig() {
	if g.kctx == nil {
		return
	}
	var attrs []any
	for _, f := range g.kctx.Flags() {
		if f.Name == "help" || f.Value.Target.Kind() == 0 {
			continue
		}
		v := fmt.Sprint(f.Value.Target.Interface())
		if f.Tag.Has("secret") {
			v = Mask(v)
		}
		attrs = append(attrs, f.Name, v)
	}
	g.Log.Info("configuration", attrs...)
}

// Mask hides a secret for logs: a URL keeps everything but its password; anything else is replaced.
func Mask(v string) string {
	if v == "" {
		return ""
	}
	if u, err := url.Parse(v); err == nil && u.Scheme != "" && u.Host != "" {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return strings.Replace(u.String(), "xxxxx", "*****", 1)
		}
		return v
	}
	return "*****"
}
