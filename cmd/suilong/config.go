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

// Config is every setting of the platform, with its default, flag and SUILONG_* variable in one place.
// Fields tagged secret are masked when the configuration is logged. Each area embeds its own block.
type Config struct {
	DatabaseURL    string   `name:"database-url" env:"SUILONG_DATABASE_URL" default:"postgres://postgres@127.0.0.1:5432/suilong?sslmode=disable" help:"PostgreSQL URL." secret:""`
	InfluxURL      string   `name:"influx-url" env:"SUILONG_INFLUX_URL" default:"http://127.0.0.1:8086" help:"InfluxDB URL (1.8 with Flux, or 2.x)."`
	InfluxToken    string   `name:"influx-token" env:"SUILONG_INFLUX_TOKEN" help:"InfluxDB token (2.x), or user:password (1.8)." secret:""`
	InfluxOrg      string   `name:"influx-org" env:"SUILONG_INFLUX_ORG" help:"InfluxDB organisation (2.x only)."`
	InfluxBucket   string   `name:"influx-bucket" env:"SUILONG_INFLUX_BUCKET" default:"coldchain/autogen" help:"InfluxDB bucket (1.8: database/retention-policy)."`
	MQTTURL        string   `name:"mqtt-url" env:"SUILONG_MQTT_URL" help:"External MQTT broker (tcp://host:1883); empty runs the embedded broker."`
	MQTTUsername   string   `name:"mqtt-username" env:"SUILONG_MQTT_USERNAME" help:"Username of the platform's own client on an external broker."`
	MQTTPassword   string   `name:"mqtt-password" env:"SUILONG_MQTT_PASSWORD" help:"Password of the platform's own client on an external broker." secret:""`
	MQTTListen     string   `name:"mqtt-listen" env:"SUILONG_MQTT_LISTEN" default:"127.0.0.1:1883" help:"Listen address of the embedded MQTT broker (off: TLS only)."`
	HTTPAddr       string   `name:"http-addr" env:"SUILONG_HTTP_ADDR" default:"127.0.0.1:8080" help:"HTTP listen address."`
	TrustedProxies []string `name:"trusted-proxies" env:"SUILONG_TRUSTED_PROXIES" help:"Reverse proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For names the client; none: the connection's address is the client."`
	PublicBaseURL  string   `name:"public-base-url" env:"SUILONG_PUBLIC_BASE_URL" default:"http://127.0.0.1:8080" help:"Base URL of the public pages, used in QR codes."`
	DataDir        string   `name:"data-dir" env:"SUILONG_DATA_DIR" default:"./var/data" help:"Local state: broker sessions, ingest spool." type:"path"`
	LogLevel       string   `name:"log-level" env:"SUILONG_LOG_LEVEL" default:"info" enum:"debug,info,warn,error" help:"Log level (debug, info, warn, error)."`
	LogFormat      string   `name:"log-format" env:"SUILONG_LOG_FORMAT" default:"text" enum:"text,json" help:"Log format (text, json)."`

	Broker   BrokerConfig   `embed:"" group:"MQTT"`
	Ingest   IngestConfig   `embed:"" group:"Ingest"`
	Matching MatchingConfig `embed:"" group:"Matching"`
	Trace    TraceConfig    `embed:"" group:"Traceability"`
	Plan     PlanConfig     `embed:"" group:"Plan"`
}

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
