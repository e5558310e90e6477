package broker_test

import (
	"crypto/tls"
	"errors"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/suilong/suilong/internal/broker"
	"github.com/suilong/suilong/internal/broker/brokertest"
)

func connectTLS(url, id string, tc *tls.Config) error {
	o := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetTLSConfig(tc).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second)
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return errTimeout
	}
	if tok.Error() != nil {
		return tok.Error()
	}
	defer c.Disconnect(10)
	if p := c.Publish("t/tls", 1, false, "over tls"); !p.WaitTimeout(5*time.Second) || p.Error() != nil {
		return p.Error()
	}
	return nil
}

var errTimeout = errors.New("timed out")

// The broker serves TLS with the configured certificate, alone (no plain listener) or beside plain TCP; a
// client that does not trust the certificate's CA is refused, and with a client CA configured so is a client
// without a certificate.
func TestTLSListener(t *testing.T) {
	certs := brokertest.NewCerts(t)
	sc, err := broker.ServerTLS(certs.ServerCert, certs.ServerKey, "")
	if err != nil {
		t.Fatal(err)
	}
	only, err := broker.Start(broker.Options{TLSListen: "127.0.0.1:0", TLS: sc, Limits: broker.DefaultLimits(256 << 10)})
	if err != nil {
		t.Fatal(err)
	}
	defer only.Close()
	if only.Addr() != "" || only.URL() != only.TLSURL() {
		t.Fatalf("a TLS-only broker has a plain listener: %q %q", only.Addr(), only.URL())
	}
	if err := connectTLS(only.TLSURL(), "gw-tls", brokertest.ClientTLS(t, certs.CA, "", "")); err != nil {
		t.Fatalf("a client trusting the CA: %v", err)
	}
	if err := connectTLS(only.TLSURL(), "gw-other-ca", brokertest.ClientTLS(t, certs.OtherCA, "", "")); err == nil {
		t.Fatal("a client trusting another CA connected")
	}
	if err := connectTLS("tcp://"+only.TLSAddr(), "plain-on-tls", nil); err == nil {
		t.Fatal("a plain client connected to the TLS listener")
	}

	mutual, err := broker.ServerTLS(certs.ServerCert, certs.ServerKey, certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	both := brokertest.Start(t, broker.Options{TLS: mutual})
	if both.Addr() == "" || both.TLSAddr() == "" {
		t.Fatal("plain and TLS listeners expected")
	}
	if err := connectTLS(both.TLSURL(), "no-cert", brokertest.ClientTLS(t, certs.CA, "", "")); err == nil {
		t.Fatal("a client without a certificate connected although client certificates are required")
	}
	if err := connectTLS(both.TLSURL(), "with-cert", brokertest.ClientTLS(t, certs.CA, certs.ClientCert, certs.ClientKey)); err != nil {
		t.Fatalf("a client with a certificate: %v", err)
	}
	if err := connectTLS(both.URL(), "plain", nil); err != nil {
		t.Fatalf("plain beside TLS: %v", err)
	}

	if _, err := broker.ServerTLS(certs.ServerCert, "", ""); err == nil {
		t.Fatal("a certificate without a key was accepted")
	}
}
