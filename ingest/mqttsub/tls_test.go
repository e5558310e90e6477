package mqttsub_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/mochi-mqtt/server/v2/hooks/auth"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/ingesttest"
	"github.com/suilong/suilong/ingest/mqttsub"
	"github.com/suilong/suilong/internal/broker"
	"github.com/suilong/suilong/internal/broker/brokertest"
)

// overTLS runs ingest's subscriber and publisher against a TLS broker with a client certificate, and a gateway
// publishing over TLS: the reading reaches ingest, is acknowledged to the gateway only after ingest's Ack, and
// the platform's publisher reaches subscribers.
func overTLS(t *testing.T, url string, certs brokertest.Certs) {
	t.Helper()
	tc, err := mqttsub.ClientTLS(certs.CA, certs.ClientCert, certs.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan ingest.Message, 10)
	sub := mqttsub.NewSubscriber(mqttsub.SubscriberConfig{URL: url, ClientID: fmt.Sprintf("ingest-tls-%d", time.Now().UnixNano()),
		TLS: tc, Log: slog.New(slog.DiscardHandler)}, func(m ingest.Message) bool { got <- m; return true })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	gw := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID("GW-TLS").SetCleanSession(false).
		SetTLSConfig(brokertest.ClientTLS(t, certs.CA, certs.ClientCert, certs.ClientKey)))
	if tok := gw.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("gateway over TLS: %v", tok.Error())
	}
	defer gw.Disconnect(10)
	var tok paho.Token
	deadline := time.Now().Add(10 * time.Second)
	var m ingest.Message
	for m.Topic == "" { // until the subscriber has subscribed, a publish reaches nobody
		tok = gw.Publish(ingest.TopicReadings+"GW-TLS", 1, false, `{"over":"tls"}`)
		select {
		case m = <-got:
		case <-time.After(300 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("ingest's TLS subscriber received nothing")
			}
		}
	}
	if string(m.Payload) != `{"over":"tls"}` || m.Ack == nil {
		t.Fatalf("got %+v", m)
	}
	m.Ack()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("the gateway's publish: %v", tok.Error())
	}

	alarms := make(chan string, 1)
	if t2 := gw.Subscribe(ingest.TopicAlarms+"#", 1, func(_ paho.Client, m paho.Message) { alarms <- string(m.Payload()) }); !t2.WaitTimeout(5*time.Second) || t2.Error() != nil {
		t.Fatal(t2.Error())
	}
	pub := mqttsub.NewPahoPublisher(url, fmt.Sprintf("ingest-tls-pub-%d", time.Now().UnixNano()), "", "", tc)
	defer pub.Close()
	pctx, pcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer pcancel()
	for {
		err := pub.Publish(pctx, ingest.TopicAlarms+"LY-TRK-1", []byte(`{"alarm":1}`), 1, false)
		if err == nil {
			break
		}
		if pctx.Err() != nil {
			t.Fatalf("the platform's publisher over TLS: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case a := <-alarms:
		if a != `{"alarm":1}` {
			t.Fatalf("alarm %q", a)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the alarm published over TLS did not arrive")
	}
}

// Ingest's external-broker clients over TLS, to the embedded broker requiring client certificates.
func TestClientsOverTLSToEmbeddedBroker(t *testing.T) {
	certs := brokertest.NewCerts(t)
	sc, err := broker.ServerTLS(certs.ServerCert, certs.ServerKey, certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	b := brokertest.Start(t, broker.Options{TLS: sc, Hooks: []broker.Hook{{Hook: new(auth.AllowHook)}}})
	overTLS(t, b.TLSURL(), certs)
	// mqtts:// is the same, and a certificate from another CA is refused.
	bad, err := mqttsub.ClientTLS(certs.OtherCA, "", "")
	if err != nil {
		t.Fatal(err)
	}
	c := paho.NewClient(mqttsub.WithBuffering(paho.NewClientOptions().AddBroker("mqtts://"+b.TLSAddr()).SetClientID("x").
		SetTLSConfig(bad).SetConnectRetry(false), "mqtts://"+b.TLSAddr()))
	if tok := c.Connect(); tok.WaitTimeout(10*time.Second) && tok.Error() == nil {
		c.Disconnect(10)
		t.Fatal("connected while trusting another CA")
	}
}

// The same against a private Mosquitto with TLS and required client certificates.
func TestClientsOverTLSToMosquitto(t *testing.T) {
	certs := brokertest.NewCerts(t)
	m := ingesttest.StartMosquitto(t, fmt.Sprintf("cafile %s\ncertfile %s\nkeyfile %s\nrequire_certificate true", certs.CA, certs.ServerCert, certs.ServerKey), true)
	overTLS(t, m.URL, certs)
}
