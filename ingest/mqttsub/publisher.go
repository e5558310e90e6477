package mqttsub

import (
	"context"
	"crypto/tls"
	"errors"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	mqtt "github.com/mochi-mqtt/server/v2"
)

// InlinePublisher publishes through the embedded broker's inline client.
type InlinePublisher struct{ Srv *mqtt.Server }

// Publish implements ingest.Publisher.
func (p InlinePublisher) Publish(_ context.Context, topic string, payload []byte, qos byte, retain bool) error {
	return p.Srv.Publish(topic, payload, retain, qos)
}

// PahoPublisher publishes on an external broker with its own client (so that a blocked subscriber never holds
// up an alarm).
type PahoPublisher struct {
	client client
}

// NewPahoPublisher connects a publishing client (it keeps reconnecting in the background); tc is used with TLS
// URLs (nil: the system's roots).
func NewPahoPublisher(url, clientID, user, pass string, tc *tls.Config) *PahoPublisher {
	return newPahoPublisher(newPahoClient, url, clientID, user, pass, tc)
}

func newPahoPublisher(newClient clientFactory, url, clientID, user, pass string, tc *tls.Config) *PahoPublisher {
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).SetUsername(user).SetPassword(pass).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(5 * time.Second).SetTLSConfig(tc)
	c := newClient(WithBuffering(opts, url))
	c.Connect()
	return &PahoPublisher{client: c}
}

// Publish implements ingest.Publisher. It refuses while the connection is down (paho would keep the message
// until it reconnects, and report a QoS 0 one as sent) and returns when ctx ends, confirmed or not.
func (p *PahoPublisher) Publish(ctx context.Context, topic string, payload []byte, qos byte, retain bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !p.client.IsConnectionOpen() {
		return errors.New("not connected to the MQTT broker")
	}
	t := p.client.Publish(topic, qos, retain, payload)
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close disconnects.
func (p *PahoPublisher) Close() { p.client.Disconnect(250) }
