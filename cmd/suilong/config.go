package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/mqttsub"
	"github.com/suilong/suilong/ingest/rules"
	"github.com/suilong/suilong/ingest/worker"
	"github.com/suilong/suilong/internal/broker"
	"github.com/suilong/suilong/trace"
)

// Config is every setting of the platform, with its default, flag and SUILONG_* variable in one place.
// Fields tagged secret are masked when the configuration is logged. Each area embeds its own block.
type Config struct {
	DatabaseURL string `name:"database-url" env:"SUILONG_DATABASE_URL" default:"postgres://postgres@127.0.0.1:5432/suilong?sslmode=disable" help:"PostgreSQL URL." secret:""`
	// The pools: see pg.OpenPool and docs/performance.md.
	DatabaseMaxConns       int           `name:"database-max-conns" env:"SUILONG_DATABASE_MAX_CONNS" default:"0" help:"Most connections of the main PostgreSQL pool (HTTP routes, matching, trace, plan); 0: pool_max_conns in SUILONG_DATABASE_URL when it has one, else 8 per CPU and at least 16. Set, it wins over the URL's."`
	APIKeyCache            time.Duration `name:"api-key-cache" env:"SUILONG_API_KEY_CACHE" default:"5s" help:"How long a process trusts an API key it has checked before reading it again (0: every request reads it). A key revoked through this process stops at once; revoked through another, within this time."`
	DatabaseIngestMaxConns int           `name:"database-ingest-max-conns" env:"SUILONG_DATABASE_INGEST_MAX_CONNS" default:"4" help:"Connections of ingest's own pool (the registry and band look-ups, alarms, the dead letter, gateways' logins to the embedded broker), apart from the main one so that HTTP load cannot starve them; 0: ingest shares the main pool."`
	InfluxURL              string        `name:"influx-url" env:"SUILONG_INFLUX_URL" default:"http://127.0.0.1:8086" help:"InfluxDB URL (1.8 with Flux, or 2.x)."`
	InfluxToken            string        `name:"influx-token" env:"SUILONG_INFLUX_TOKEN" help:"InfluxDB token (2.x), or user:password (1.8)." secret:""`
	InfluxOrg              string        `name:"influx-org" env:"SUILONG_INFLUX_ORG" help:"InfluxDB organisation (2.x only)."`
	InfluxBucket           string        `name:"influx-bucket" env:"SUILONG_INFLUX_BUCKET" default:"coldchain/autogen" help:"InfluxDB bucket (1.8: database/retention-policy)."`
	MQTTURL                string        `name:"mqtt-url" env:"SUILONG_MQTT_URL" help:"External MQTT broker (tcp://host:1883); empty runs the embedded broker."`
	MQTTUsername           string        `name:"mqtt-username" env:"SUILONG_MQTT_USERNAME" help:"Username of the platform's own client on an external broker."`
	MQTTPassword           string        `name:"mqtt-password" env:"SUILONG_MQTT_PASSWORD" help:"Password of the platform's own client on an external broker." secret:""`
	MQTTListen             string        `name:"mqtt-listen" env:"SUILONG_MQTT_LISTEN" default:"127.0.0.1:1883" help:"Listen address of the embedded MQTT broker (off: TLS only)."`
	HTTPAddr               string        `name:"http-addr" env:"SUILONG_HTTP_ADDR" default:"127.0.0.1:8080" help:"HTTP listen address."`
	TrustedProxies         []string      `name:"trusted-proxies" env:"SUILONG_TRUSTED_PROXIES" help:"Reverse proxies (addresses or CIDRs, comma-separated) whose X-Forwarded-For names the client; none: the connection's address is the client."`
	PublicBaseURL          string        `name:"public-base-url" env:"SUILONG_PUBLIC_BASE_URL" default:"http://127.0.0.1:8080" help:"Base URL of the public pages, used in QR codes."`
	DataDir                string        `name:"data-dir" env:"SUILONG_DATA_DIR" default:"./var/data" help:"Local state: broker sessions, ingest spool." type:"path"`
	LogLevel               string        `name:"log-level" env:"SUILONG_LOG_LEVEL" default:"info" enum:"debug,info,warn,error" help:"Log level (debug, info, warn, error)."`
	LogFormat              string        `name:"log-format" env:"SUILONG_LOG_FORMAT" default:"text" enum:"text,json" help:"Log format (text, json)."`

	Broker   BrokerConfig   `embed:"" group:"MQTT"`
	Ingest   IngestConfig   `embed:"" group:"Ingest"`
	Matching MatchingConfig `embed:"" group:"Matching"`
	Trace    TraceConfig    `embed:"" group:"Traceability"`
	Plan     PlanConfig     `embed:"" group:"Plan"`
	Ops      OpsConfig      `embed:"" group:"Console and notifications"`
}

// BrokerConfig is the MQTT configuration beyond the broker's address (flags "mqtt-…", variables SUILONG_MQTT_*).
// Its defaults are broker.DefaultLimits (a test keeps them equal).
type BrokerConfig struct {
	TLSListen   string `name:"mqtt-tls-listen" env:"SUILONG_MQTT_TLS_LISTEN" default:"127.0.0.1:8883" help:"TLS listen address of the embedded broker, used when SUILONG_MQTT_TLS_CERT is set."`
	TLSCert     string `name:"mqtt-tls-cert" env:"SUILONG_MQTT_TLS_CERT" type:"path" help:"Certificate chain (PEM) of the embedded broker's TLS listener; with SUILONG_MQTT_TLS_KEY it turns the listener on."`
	TLSKey      string `name:"mqtt-tls-key" env:"SUILONG_MQTT_TLS_KEY" type:"path" help:"Private key (PEM) of that certificate."`
	TLSClientCA string `name:"mqtt-tls-client-ca" env:"SUILONG_MQTT_TLS_CLIENT_CA" type:"path" help:"Require client certificates signed by this CA (PEM) on the TLS listener, besides the password."`

	ConnectTimeout        time.Duration `name:"mqtt-connect-timeout" env:"SUILONG_MQTT_CONNECT_TIMEOUT" default:"10s" help:"A new connection to the embedded broker must finish TLS and its CONNECT within this."`
	MaxConnections        int           `name:"mqtt-max-connections" env:"SUILONG_MQTT_MAX_CONNECTIONS" default:"5000" help:"Most open connections to the embedded broker (0: no bound)."`
	MaxConnectionsPerAddr int           `name:"mqtt-max-connections-per-addr" env:"SUILONG_MQTT_MAX_CONNECTIONS_PER_ADDR" default:"100" help:"Most open connections to the embedded broker from one source address (0: no bound)."`
	MaxSubscriptions      int           `name:"mqtt-max-subscriptions" env:"SUILONG_MQTT_MAX_SUBSCRIPTIONS" default:"32" help:"Most subscriptions of one client of the embedded broker (0: no bound)."`
	MaxKeepalive          time.Duration `name:"mqtt-max-keepalive" env:"SUILONG_MQTT_MAX_KEEPALIVE" default:"5m" help:"Longest keepalive the embedded broker grants (a client asking for none or more gets this)."`
	SessionExpiry         time.Duration `name:"mqtt-session-expiry" env:"SUILONG_MQTT_SESSION_EXPIRY" default:"168h" help:"How long the embedded broker keeps a disconnected client's persistent session."`
	GatewayRate           float64       `name:"mqtt-gateway-rate" env:"SUILONG_MQTT_GATEWAY_RATE" default:"100" help:"Messages per second one gateway may publish to the embedded broker; beyond it the broker reads its messages more slowly (0: no bound)."`
	GatewayBurst          int           `name:"mqtt-gateway-burst" env:"SUILONG_MQTT_GATEWAY_BURST" default:"1000" help:"Messages a gateway may publish at once above its rate."`

	HookSecret     string `name:"mqtt-hook-secret" env:"SUILONG_MQTT_HOOK_SECRET" help:"Secret an external broker sends (Authorization: Bearer) to ask POST /api/v1/mqtt/auth and /acl about clients (EMQX's HTTP authenticator and authorizer); empty turns the hook off." secret:""`
	DynsecUsername string `name:"mqtt-dynsec-username" env:"SUILONG_MQTT_DYNSEC_USERNAME" help:"An admin of Mosquitto's dynamic-security plugin on SUILONG_MQTT_URL: when set, gateways' credentials are kept in step there."`
	DynsecPassword string `name:"mqtt-dynsec-password" env:"SUILONG_MQTT_DYNSEC_PASSWORD" help:"That admin's password." secret:""`

	CAFile     string `name:"mqtt-ca-file" env:"SUILONG_MQTT_CA_FILE" type:"path" help:"CA (PEM) of the broker's certificate for a TLS SUILONG_MQTT_URL (ssl://, mqtts://; default: the system's roots)."`
	ClientCert string `name:"mqtt-client-cert" env:"SUILONG_MQTT_CLIENT_CERT" type:"path" help:"Client certificate (PEM) the platform presents to a TLS broker."`
	ClientKey  string `name:"mqtt-client-key" env:"SUILONG_MQTT_CLIENT_KEY" type:"path" help:"Private key (PEM) of the client certificate."`
}

// limits are the embedded broker's bounds; the platform's own user is exempt from the per-client ones.
func (c BrokerConfig) limits(cfg *Config) broker.Limits {
	l := broker.DefaultLimits(cfg.Ingest.MaxPayload)
	l.ConnectTimeout = c.ConnectTimeout
	l.MaxConnections = c.MaxConnections
	l.MaxConnectionsPerAddr = c.MaxConnectionsPerAddr
	l.MaxSubscriptions = c.MaxSubscriptions
	l.MaxKeepalive = c.MaxKeepalive
	l.SessionExpiry = c.SessionExpiry
	l.Rate = c.GatewayRate
	l.Burst = c.GatewayBurst
	l.Exempt = cfg.MQTTUsername
	return l
}

// serverTLS is the embedded broker's TLS listener configuration (nil: no TLS listener).
func (c BrokerConfig) serverTLS() (*tls.Config, error) {
	if c.TLSCert == "" && c.TLSKey == "" {
		if c.TLSClientCA != "" {
			return nil, errors.New("--mqtt-tls-client-ca needs --mqtt-tls-cert and --mqtt-tls-key")
		}
		return nil, nil
	}
	return broker.ServerTLS(c.TLSCert, c.TLSKey, c.TLSClientCA)
}

// clientTLS is the TLS configuration of the platform's clients of a TLS broker URL.
func (c BrokerConfig) clientTLS() (*tls.Config, error) {
	return mqttsub.ClientTLS(c.CAFile, c.ClientCert, c.ClientKey)
}

// plainListen is SUILONG_MQTT_LISTEN, where "" or "off" means no plain listener (TLS only).
func plainListen(addr string) string {
	if addr == "off" {
		return ""
	}
	return addr
}

// IngestConfig is ingest's configuration (flags prefixed "ingest-", variables SUILONG_INGEST_*).
type IngestConfig struct {
	ExcursionOpen  time.Duration `name:"ingest-excursion-open" env:"SUILONG_INGEST_EXCURSION_OPEN" default:"15m" help:"Outside the temperature band this long raises an excursion alarm."`
	ExcursionClose time.Duration `name:"ingest-excursion-close" env:"SUILONG_INGEST_EXCURSION_CLOSE" default:"10m" help:"Back inside the band this long ends an excursion."`
	DoorOpenLimit  time.Duration `name:"ingest-door-open-limit" env:"SUILONG_INGEST_DOOR_OPEN_LIMIT" default:"10m" help:"A door open this long raises an alarm."`
	SilenceLimit   time.Duration `name:"ingest-silence-limit" env:"SUILONG_INGEST_SILENCE_LIMIT" default:"15m" help:"A sensor silent this long raises an alarm."`
	RulesWindow    time.Duration `name:"ingest-rules-window" env:"SUILONG_INGEST_RULES_WINDOW" default:"3h" help:"How late (behind a sensor's newest reading) a reading may arrive and still change alarms."`

	BatchSize     int           `name:"ingest-batch-size" env:"SUILONG_INGEST_BATCH_SIZE" default:"5000" help:"Readings per InfluxDB write."`
	Workers       int           `name:"ingest-workers" env:"SUILONG_INGEST_WORKERS" default:"0" help:"Decoding goroutines (0: one per CPU)."`
	FlushInterval time.Duration `name:"ingest-flush-interval" env:"SUILONG_INGEST_FLUSH_INTERVAL" default:"200ms" help:"Longest a reading waits for companions before a write."`
	MaxPayload    int           `name:"ingest-max-payload" env:"SUILONG_INGEST_MAX_PAYLOAD" default:"262144" help:"Largest accepted message in bytes; larger ones go to the dead letter."`
	MaxFuture     time.Duration `name:"ingest-max-future" env:"SUILONG_INGEST_MAX_FUTURE" default:"5m" help:"How far ahead of the platform clock a reading's ts may be."`
	MaxAge        time.Duration `name:"ingest-max-age" env:"SUILONG_INGEST_MAX_AGE" default:"168h" help:"How old a reading's ts may be."`

	SpoolDir   string `name:"ingest-spool-dir" env:"SUILONG_INGEST_SPOOL_DIR" help:"Where readings wait while InfluxDB is away (default: the data directory)." type:"path"`
	SpoolMaxMB int64  `name:"ingest-spool-max-mb" env:"SUILONG_INGEST_SPOOL_MAX_MB" default:"1024" help:"Bound of the spool in MiB; when full, ingest stops acknowledging and the broker holds the messages."`

	ClientID            string        `name:"ingest-client-id" env:"SUILONG_INGEST_CLIENT_ID" help:"MQTT client id of this ingest process on an external broker (default: derived from host and data directory)."`
	RulesClientID       string        `name:"ingest-rules-client-id" env:"SUILONG_INGEST_RULES_CLIENT_ID" default:"suilong-rules" help:"MQTT client id of the rules' persistent session on an external broker: the same in every --only rules process (only the leader connects)."`
	SharedGroup         string        `name:"ingest-shared-group" env:"SUILONG_INGEST_SHARED_GROUP" default:"suilong-ingest" help:"Shared-subscription group on an external broker (empty: no sharing)."`
	DeadLetterRate      float64       `name:"ingest-dead-letter-rate" env:"SUILONG_INGEST_DEAD_LETTER_RATE" default:"1" help:"Dead-letter records one gateway may add per second (beyond the burst); the rest are counted and summed up once a minute."`
	DeadLetterBurst     int           `name:"ingest-dead-letter-burst" env:"SUILONG_INGEST_DEAD_LETTER_BURST" default:"3000" help:"Dead-letter records one gateway may add at once."`
	CacheRefresh        time.Duration `name:"ingest-cache-refresh" env:"SUILONG_INGEST_CACHE_REFRESH" default:"30s" help:"How often the sensor cache reloads the registry."`
	DeadLetterRetention time.Duration `name:"ingest-dead-letter-retention" env:"SUILONG_INGEST_DEAD_LETTER_RETENTION" default:"0" help:"How long dead-letter records are kept (0: as long as the records, SUILONG_RECORDS_RETENTION; a shorter value is refused)."`
}

// dataDir is where ingest keeps its spools and its copy of the sensor registry.
func (c IngestConfig) dataDir(cfg *Config) string {
	if c.SpoolDir != "" {
		return c.SpoolDir
	}
	return cfg.DataDir
}

func (c IngestConfig) service(cfg *Config) worker.Config {
	return worker.Config{
		DataDir: c.dataDir(cfg),
		Pipeline: ingest.PipelineConfig{Workers: c.Workers, BatchSize: c.BatchSize, FlushInterval: c.FlushInterval,
			Limits: ingest.Limits{MaxFuture: c.MaxFuture, MaxAge: c.MaxAge}, MaxPayload: c.MaxPayload,
			DeadLetterRate: c.DeadLetterRate, DeadLetterBurst: c.DeadLetterBurst},
		Rules: rules.Config{OpenAfter: c.ExcursionOpen, CloseAfter: c.ExcursionClose, DoorLimit: c.DoorOpenLimit,
			SilenceLimit: c.SilenceLimit, Window: c.RulesWindow},
		SpoolMaxBytes:       c.SpoolMaxMB << 20,
		CacheRefresh:        c.CacheRefresh,
		DeadLetterRetention: c.deadLetterRetention(cfg),
		MQTTURL:             cfg.MQTTURL,
		Username:            cfg.MQTTUsername,
		Password:            cfg.MQTTPassword,
		ClientID:            c.ClientID,
		RulesClientID:       c.RulesClientID,
		Group:               c.SharedGroup,
	}
}

// deadLetterRetention is how long dead letters are kept: as long as the cold chain's records, since a refused
// reading is part of the record of the truck that sent it (it explains a gap an inspector finds).
func (c IngestConfig) deadLetterRetention(cfg *Config) time.Duration {
	if c.DeadLetterRetention == 0 {
		return cfg.Trace.Retention
	}
	return c.DeadLetterRetention
}

// checkRetention refuses settings that would delete records before the law allows (Food Safety Law arts. 50
// and 53): records kept less than two years, dead letters kept less than the records.
func (c *Config) checkRetention() error {
	if err := (trace.Retention{Records: c.Trace.Retention}).Validate(); err != nil {
		return fmt.Errorf("SUILONG_RECORDS_RETENTION=%s: %w", c.Trace.Retention, err)
	}
	if d := c.Ingest.DeadLetterRetention; d != 0 && d < c.Trace.Retention {
		return fmt.Errorf("SUILONG_INGEST_DEAD_LETTER_RETENTION=%s is shorter than the records' retention (SUILONG_RECORDS_RETENTION=%s): "+
			"dead letters are part of a truck's record; leave it 0 to follow the records", d, c.Trace.Retention)
	}
	return nil
}

// MatchingConfig is matching's configuration (flags prefixed "matching-", variables SUILONG_MATCHING_*).
type MatchingConfig struct {
	DemoRun   bool          `name:"matching-demo-run" env:"SUILONG_MATCHING_DEMO_RUN" default:"true" negatable:"" help:"suilong demo runs the matching once over the demo pool (when no run exists yet) and places a demo order."`
	RoundTick time.Duration `name:"matching-round-tick" env:"SUILONG_MATCHING_ROUND_TICK" default:"5s" help:"How often serve looks for trading rounds whose close has come (it runs each once, whatever the number of processes) and for allocations past their answer deadline (they lapse). A round runs at most this long after its close. 0 turns the round scheduler off in this process."`
}

// TraceConfig is traceability's configuration (flags prefixed "trace-", variables SUILONG_TRACE_*).
type TraceConfig struct {
	PublicRate  float64       `name:"trace-public-rate" env:"SUILONG_TRACE_PUBLIC_RATE" default:"2" help:"Public lot pages and QR codes: requests per second allowed per client IP."`
	PublicBurst int           `name:"trace-public-burst" env:"SUILONG_TRACE_PUBLIC_BURST" default:"20" help:"Public lot pages and QR codes: burst allowed per client IP."`
	Settle      time.Duration `name:"trace-settle" env:"SUILONG_TRACE_SETTLE" default:"10m" help:"Readings younger than this are read live rather than from a leg's stored summary."`
	VerifyEvery time.Duration `name:"trace-verify-every" env:"SUILONG_TRACE_VERIFY_EVERY" default:"1h" help:"How long a leg's stored summary and a delivered lot's report kept in memory are trusted before InfluxDB is asked again whether readings came late that ingest did not tell of."`
	Retention   time.Duration `name:"records-retention" env:"SUILONG_RECORDS_RETENTION" default:"17520h" help:"How long cold-chain records are kept after a lot's delivery (at least 2 years, 17520h; longer for a product whose shelf life + 6 months is longer). InfluxDB's retention policy, the dead letter and the purge follow it."`
	EPCISSchema string        `name:"epcis-schema" env:"SUILONG_EPCIS_SCHEMA" type:"path" help:"GS1's EPCIS-JSON-Schema.json, against which captured EPCIS documents are validated (default: shared/epcis/ beside the checkout); without it capture is off."`
}

// PlanConfig is plan tracking's configuration (flags prefixed "plan-", variables SUILONG_PLAN_*). Cookies are
// Secure when SUILONG_PUBLIC_BASE_URL is https.
type PlanConfig struct {
	SessionIdle time.Duration `name:"plan-session-idle" env:"SUILONG_PLAN_SESSION_IDLE" default:"1h" help:"A dashboard session ends after this long without a request."`
	SessionMax  time.Duration `name:"plan-session-max" env:"SUILONG_PLAN_SESSION_MAX" default:"12h" help:"A dashboard session ends this long after sign-in, whatever happens."`
}

// OpsConfig is the duty officers' console and the notifications (flags "ops-", "notify-", "smtp-"; variables
// SUILONG_OPS_*, SUILONG_NOTIFY_*, SUILONG_SMTP_*).
type OpsConfig struct {
	Refresh time.Duration `name:"ops-refresh" env:"SUILONG_OPS_REFRESH" default:"30s" help:"How often the console's fleet page reloads itself."`

	Deliver     bool          `name:"notify-deliver" env:"SUILONG_NOTIFY_DELIVER" default:"true" negatable:"" help:"This process plans, escalates and sends notifications (any number of processes may; they share the work)."`
	Poll        time.Duration `name:"notify-poll" env:"SUILONG_NOTIFY_POLL" default:"1s" help:"How often new alarm changes, due escalations and due deliveries are looked for."`
	SendTimeout time.Duration `name:"notify-send-timeout" env:"SUILONG_NOTIFY_SEND_TIMEOUT" default:"10s" help:"Longest one delivery attempt may take."`
	RetryBase   time.Duration `name:"notify-retry-base" env:"SUILONG_NOTIFY_RETRY_BASE" default:"30s" help:"Delay before the first retry of a failed delivery; it doubles with each failure."`
	RetryMax    time.Duration `name:"notify-retry-max" env:"SUILONG_NOTIFY_RETRY_MAX" default:"30m" help:"Longest delay between two attempts of a delivery."`
	MaxAttempts int           `name:"notify-max-attempts" env:"SUILONG_NOTIFY_MAX_ATTEMPTS" default:"10" help:"Attempts before a delivery is given up as failed."`
	AllowHTTP   bool          `name:"notify-allow-http" env:"SUILONG_NOTIFY_ALLOW_HTTP" help:"Accept plain http URLs for webhooks and group robots (default: https only)."`
	AllowNets   []string      `name:"notify-allow-nets" env:"SUILONG_NOTIFY_ALLOW_NETS" help:"Internal networks (addresses or CIDRs, comma-separated) that webhook and robot URLs may reach; by default only public addresses may."`

	SMTPHost     string `name:"smtp-host" env:"SUILONG_SMTP_HOST" help:"Mail server of email channels (empty: email channels cannot deliver)."`
	SMTPPort     int    `name:"smtp-port" env:"SUILONG_SMTP_PORT" default:"587" help:"Port of the mail server."`
	SMTPUsername string `name:"smtp-username" env:"SUILONG_SMTP_USERNAME" help:"User name at the mail server (empty: no authentication)."`
	SMTPPassword string `name:"smtp-password" env:"SUILONG_SMTP_PASSWORD" help:"Password at the mail server." secret:""`
	SMTPFrom     string `name:"smtp-from" env:"SUILONG_SMTP_FROM" help:"Sender of alarm emails, e.g. 穗龙冷链 <alarms@example.cn>."`
	SMTPTLS      string `name:"smtp-tls" env:"SUILONG_SMTP_TLS" default:"starttls" enum:"starttls,tls,none" help:"starttls (required), tls (implicit, port 465) or none (a relay on this host)."`
}
