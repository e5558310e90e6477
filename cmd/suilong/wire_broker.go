package main

// Owned by the ingest area: the embedded broker's limits and TLS, and TLS for the platform's clients of an
// external broker.

import (
	"crypto/tls"
	"errors"
	"time"

	"github.com/suilong/suilong/ingest/mqttsub"
	"github.com/suilong/suilong/internal/broker"
)

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
