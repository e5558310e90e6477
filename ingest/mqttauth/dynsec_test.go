package mqttauth

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/ingesttest"
)

// dial tries to connect to the broker as a gateway would, and reports the connection and how it went.
func dial(t *testing.T, url, clientID, user, pass string) (paho.Client, chan error, error) {
	t.Helper()
	lost := make(chan error, 1)
	c := paho.NewClient(paho.NewClientOptions().AddBroker(url).SetClientID(clientID).SetUsername(user).SetPassword(pass).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectTimeout(5 * time.Second).
		SetConnectionLostHandler(func(_ paho.Client, err error) { lost <- err }))
	tok := c.Connect()
	if !tok.WaitTimeout(10 * time.Second) {
		return c, lost, errors.New("no answer")
	}
	if tok.Error() != nil {
		return c, lost, tok.Error()
	}
	t.Cleanup(func() { c.Disconnect(10) })
	return c, lost, nil
}

func lostWithin(t *testing.T, lost chan error, d time.Duration) bool {
	t.Helper()
	select {
	case <-lost:
		return true
	case <-time.After(d):
		return false
	}
}

// The registry kept in step with a real Mosquitto's dynamic security: a gateway set there connects with its
// password and its own client id only, may publish its readings and subscribe to its commands and nothing of
// another gateway; a new password disconnects it and works; a removal disconnects it for good; reconciling
// removes what the registry no longer has and names what the broker lacks.
func TestDynSecAgainstMosquitto(t *testing.T) {
	m := ingesttest.StartMosquittoDynsec(t, "admin-secret")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := NewDynSec(m.URL, "admin", "admin-secret", "suilong-dynsec-test", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.SetGateway(ctx, "LY-GW-0001", "first-password"); err != nil {
		t.Fatal(err)
	}
	if err := d.SetGateway(ctx, "LY-GW-0002", "other-password"); err != nil {
		t.Fatal(err)
	}

	if _, _, err := dial(t, m.URL, "LY-GW-0001", "LY-GW-0001", "wrong"); err == nil {
		t.Fatal("a wrong password connected")
	}
	if _, _, err := dial(t, m.URL, "LY-GW-0002", "LY-GW-0001", "first-password"); err == nil {
		t.Fatal("a gateway connected under another gateway's client id")
	}
	gw, lost, err := dial(t, m.URL, "LY-GW-0001", "LY-GW-0001", "first-password")
	if err != nil {
		t.Fatalf("the gateway's own credentials: %v", err)
	}

	// The platform (the admin here) sees what the gateway may publish; the gateway gets its commands.
	seen := make(chan string, 10)
	admin, _, err := dial(t, m.URL, "platform", "admin", "admin-secret")
	if err != nil {
		t.Fatal(err)
	}
	if tok := admin.Subscribe("coldchain/v1/#", 1, func(_ paho.Client, msg paho.Message) { seen <- msg.Topic() }); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
		t.Fatal(tok.Error())
	}
	commands := make(chan string, 1)
	sub := gw.Subscribe(ingest.TopicCommands+"LY-GW-0001", 1, func(_ paho.Client, msg paho.Message) { commands <- string(msg.Payload()) })
	if !sub.WaitTimeout(5*time.Second) || sub.Error() != nil || sub.(*paho.SubscribeToken).Result()[ingest.TopicCommands+"LY-GW-0001"] != 1 {
		t.Fatalf("the gateway could not subscribe to its commands: %v %v", sub.Error(), sub.(*paho.SubscribeToken).Result())
	}
	other := gw.Subscribe(ingest.TopicCommands+"LY-GW-0002", 1, func(paho.Client, paho.Message) {})
	if !other.WaitTimeout(5*time.Second) || other.(*paho.SubscribeToken).Result()[ingest.TopicCommands+"LY-GW-0002"] != 0x80 {
		t.Fatalf("the gateway subscribed to another's commands: %v", other.(*paho.SubscribeToken).Result())
	}
	gw.Publish(ingest.TopicReadings+"LY-GW-0002", 1, false, `{"sensor_id":"X","ts":1,"temp_c":3}`).WaitTimeout(5 * time.Second)
	gw.Publish(ingest.TopicReadings+"LY-GW-0001", 1, false, `{"sensor_id":"X","ts":1,"temp_c":3}`).WaitTimeout(5 * time.Second)
	admin.Publish(ingest.TopicCommands+"LY-GW-0001", 1, false, `{"sampling_interval_s":30}`).WaitTimeout(5 * time.Second)
	select {
	case <-commands:
	case <-time.After(5 * time.Second):
		t.Fatal("the gateway did not get its command")
	}
	var topics []string
	for done := time.After(time.Second); ; {
		select {
		case tp := <-seen:
			topics = append(topics, tp)
			continue
		case <-done:
		}
		break
	}
	if !slices.Contains(topics, ingest.TopicReadings+"LY-GW-0001") || slices.Contains(topics, ingest.TopicReadings+"LY-GW-0002") {
		t.Fatalf("what reached the platform: %v (the gateway's own readings only)", topics)
	}

	// A new password: the live session ends, the old password no longer works, the new one does.
	if err := d.SetGateway(ctx, "LY-GW-0001", "second-password"); err != nil {
		t.Fatal(err)
	}
	if !lostWithin(t, lost, 2*time.Second) {
		t.Fatal("the gateway's session outlived its password")
	}
	if _, _, err := dial(t, m.URL, "LY-GW-0001", "LY-GW-0001", "first-password"); err == nil {
		t.Fatal("the old password still connects")
	}
	_, lost, err = dial(t, m.URL, "LY-GW-0001", "LY-GW-0001", "second-password")
	if err != nil {
		t.Fatalf("the new password: %v", err)
	}

	// Removed: disconnected, and it cannot come back.
	if err := d.DeleteGateway(ctx, "LY-GW-0001"); err != nil {
		t.Fatal(err)
	}
	if !lostWithin(t, lost, 2*time.Second) {
		t.Fatal("a removed gateway stayed connected")
	}
	if _, _, err := dial(t, m.URL, "LY-GW-0001", "LY-GW-0001", "second-password"); err == nil {
		t.Fatal("a removed gateway connects")
	}
	if err := d.DeleteGateway(ctx, "LY-GW-0001"); err != nil {
		t.Fatalf("removing twice: %v", err)
	}

	// The registry has LY-GW-0003 (registered before the sync was on) but no longer LY-GW-0002.
	missing, err := d.Reconcile(ctx, []string{"LY-GW-0003"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(missing, []string{"LY-GW-0003"}) {
		t.Fatalf("missing on the broker: %v", missing)
	}
	if _, _, err := dial(t, m.URL, "LY-GW-0002", "LY-GW-0002", "other-password"); err == nil {
		t.Fatal("a gateway the registry no longer has still connects after reconciling")
	}
}
