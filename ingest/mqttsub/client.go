package mqttsub

import paho "github.com/eclipse/paho.mqtt.golang"

// client is the part of paho's Client that Subscriber and PahoPublisher use. It is the seam where their unit
// tests put a fake, to reach what a real broker rarely does (a refused or lost subscription, a SUBACK that
// never comes); the integration tests run paho itself against real brokers.
type client interface {
	Connect() paho.Token
	Disconnect(quiesce uint)
	IsConnectionOpen() bool
	SubscribeMultiple(filters map[string]byte, callback paho.MessageHandler) paho.Token
	Unsubscribe(topics ...string) paho.Token
	Publish(topic string, qos byte, retained bool, payload any) paho.Token
}

// clientFactory makes a client from its options: newPahoClient, or a test's fake.
type clientFactory func(*paho.ClientOptions) client

func newPahoClient(o *paho.ClientOptions) client { return paho.NewClient(o) }
