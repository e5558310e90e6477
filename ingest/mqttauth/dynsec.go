package mqttauth

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/suilong/suilong/ingest"
)

// DynSec keeps Mosquitto's dynamic-security plugin in step with the registry: a gateway registered or given new
// credentials becomes (or stays) a Mosquitto client of that name, with that password, its own client id, and a
// role that allows what ingest.GatewayMay allows; a removed gateway's client and role go. Mosquitto then
// authenticates and authorises gateways itself, from no hand-kept password file, and disconnects a client whose
// password changes or who is removed.
//
// Suilong keeps only a hash of each gateway's password, so Mosquitto learns a password when it is set (at
// registration or reset); a gateway registered before the sync was on needs a credentials reset (Reconcile
// lists them).
type DynSec struct {
	client paho.Client
	log    *slog.Logger

	mu      sync.Mutex
	waiting map[string]chan dynsecResponse
}

// dynsecRolePrefix names the roles DynSec makes, so that its clients are told apart from the broker's other accounts.
const dynsecRolePrefix = "suilong-gateway-"

const (
	dynsecTopic         = "$CONTROL/dynamic-security/v1"
	dynsecResponseTopic = "$CONTROL/dynamic-security/v1/response"
)

type dynsecCommand map[string]any

type dynsecResponseDoc struct {
	Responses []dynsecResponse `json:"responses"`
}

type dynsecResponse struct {
	Command         string          `json:"command"`
	Error           string          `json:"error"`
	CorrelationData string          `json:"correlationData"`
	Data            json.RawMessage `json:"data"`
}

// NewDynSec connects to Mosquitto as an administrator of its dynamic-security plugin (a client with the plugin's
// admin role) and returns once connected.
func NewDynSec(url, user, password, clientID string, tc *tls.Config, log *slog.Logger) (*DynSec, error) {
	if log == nil {
		log = slog.Default()
	}
	d := &DynSec{log: log, waiting: map[string]chan dynsecResponse{}}
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(clientID).SetUsername(user).SetPassword(password).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(false).SetConnectTimeout(10 * time.Second).
		SetOnConnectHandler(func(c paho.Client) {
			c.Subscribe(dynsecResponseTopic, 1, d.onResponse)
		})
	if tc != nil {
		opts.SetTLSConfig(tc)
	}
	d.client = paho.NewClient(opts)
	t := d.client.Connect()
	if !t.WaitTimeout(15*time.Second) || t.Error() != nil {
		return nil, fmt.Errorf("dynamic security: connect to %s as %s: %v", url, user, t.Error())
	}
	// The first commands must find the answers' subscription in place.
	sub := d.client.Subscribe(dynsecResponseTopic, 1, d.onResponse)
	if !sub.WaitTimeout(10*time.Second) || sub.Error() != nil {
		d.client.Disconnect(0)
		return nil, fmt.Errorf("dynamic security: subscribe to its answers: %v", sub.Error())
	}
	return d, nil
}

func (d *DynSec) onResponse(_ paho.Client, m paho.Message) {
	var doc dynsecResponseDoc
	if err := json.Unmarshal(m.Payload(), &doc); err != nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, r := range doc.Responses {
		if ch, ok := d.waiting[r.CorrelationData]; ok {
			ch <- r
			delete(d.waiting, r.CorrelationData)
		}
	}
}

// do sends commands and returns their answers in order; an error only when the broker did not answer.
func (d *DynSec) do(ctx context.Context, cmds ...dynsecCommand) ([]dynsecResponse, error) {
	chans := make([]chan dynsecResponse, len(cmds))
	d.mu.Lock()
	for i, c := range cmds {
		var b [8]byte
		_, _ = rand.Read(b[:])
		id := hex.EncodeToString(b[:])
		c["correlationData"] = id
		chans[i] = make(chan dynsecResponse, 1)
		d.waiting[id] = chans[i]
	}
	d.mu.Unlock()
	payload, _ := json.Marshal(map[string]any{"commands": cmds})
	t := d.client.Publish(dynsecTopic, 1, false, payload)
	if !t.WaitTimeout(10*time.Second) || t.Error() != nil {
		return nil, fmt.Errorf("dynamic security: send: %v", t.Error())
	}
	out := make([]dynsecResponse, len(cmds))
	for i, ch := range chans {
		select {
		case out[i] = <-ch:
		case <-ctx.Done():
			return nil, fmt.Errorf("dynamic security: no answer: %w", ctx.Err())
		}
	}
	return out, nil
}

func firstError(rs []dynsecResponse, allowed ...string) error {
	for _, r := range rs {
		if r.Error == "" {
			continue
		}
		ok := false
		for _, a := range allowed {
			ok = ok || strings.Contains(r.Error, a)
		}
		if !ok {
			return fmt.Errorf("dynamic security: %s: %s", r.Command, r.Error)
		}
	}
	return nil
}

// gatewayACLs are ingest.GatewayMay in the plugin's terms.
func gatewayACLs(id string) []map[string]any {
	acl := func(kind, topic string) map[string]any {
		return map[string]any{"acltype": kind, "topic": topic, "allow": true}
	}
	return []map[string]any{
		acl("publishClientSend", ingest.TopicReadings+id),
		acl("publishClientSend", ingest.TopicStatus+id),
		acl("subscribeLiteral", ingest.TopicCommands+id),
		acl("subscribePattern", ingest.TopicCommands+id+"/#"),
		acl("publishClientReceive", ingest.TopicCommands+id),
		acl("publishClientReceive", ingest.TopicCommands+id+"/#"),
	}
}

// SetGateway makes the gateway a client of the broker with this password, or gives it the new password (the
// broker then disconnects its sessions).
func (d *DynSec) SetGateway(ctx context.Context, id, password string) error {
	role := dynsecRolePrefix + id
	rs, err := d.do(ctx,
		dynsecCommand{"command": "createRole", "rolename": role, "acls": gatewayACLs(id)},
		dynsecCommand{"command": "createClient", "username": id, "password": password, "clientid": id,
			"textname": "Suilong gateway " + id, "roles": []map[string]any{{"rolename": role}}})
	if err != nil {
		return err
	}
	if err := firstError(rs[:1], "already exists"); err != nil {
		return err
	}
	if rs[1].Error == "" {
		return nil
	}
	if !strings.Contains(rs[1].Error, "already exists") {
		return firstError(rs[1:])
	}
	rs, err = d.do(ctx, dynsecCommand{"command": "setClientPassword", "username": id, "password": password},
		dynsecCommand{"command": "getClient", "username": id})
	if err != nil {
		return err
	}
	if err := firstError(rs); err != nil {
		return err
	}
	var info struct {
		Client struct {
			ClientID string `json:"clientid"`
			Roles    []struct {
				Rolename string `json:"rolename"`
			} `json:"roles"`
		} `json:"client"`
	}
	if err := json.Unmarshal(rs[1].Data, &info); err != nil {
		return fmt.Errorf("dynamic security: getClient: %w", err)
	}
	var fix []dynsecCommand
	if !slices.ContainsFunc(info.Client.Roles, func(r struct {
		Rolename string `json:"rolename"`
	}) bool {
		return r.Rolename == role
	}) {
		fix = append(fix, dynsecCommand{"command": "addClientRole", "username": id, "rolename": role})
	}
	if info.Client.ClientID != id {
		fix = append(fix, dynsecCommand{"command": "setClientId", "username": id, "clientid": id})
	}
	if len(fix) == 0 {
		return nil
	}
	if rs, err = d.do(ctx, fix...); err != nil {
		return err
	}
	return firstError(rs)
}

// DeleteGateway removes the gateway's client and role (the broker disconnects its sessions).
func (d *DynSec) DeleteGateway(ctx context.Context, id string) error {
	rs, err := d.do(ctx, dynsecCommand{"command": "deleteClient", "username": id},
		dynsecCommand{"command": "deleteRole", "rolename": dynsecRolePrefix + id})
	if err != nil {
		return err
	}
	return firstError(rs, "not found")
}

// Reconcile removes the broker's gateway clients that the registry no longer has (a removal while the broker
// was away) and returns the registered gateways the broker does not know, whose credentials must be reset for
// it to learn them.
func (d *DynSec) Reconcile(ctx context.Context, registered []string) (missing []string, err error) {
	rs, err := d.do(ctx, dynsecCommand{"command": "listRoles", "verbose": false, "count": -1})
	if err != nil {
		return nil, err
	}
	if err := firstError(rs); err != nil {
		return nil, err
	}
	var roles struct {
		Roles []string `json:"roles"`
	}
	if err := json.Unmarshal(rs[0].Data, &roles); err != nil {
		return nil, fmt.Errorf("dynamic security: list roles: %w", err)
	}
	known := map[string]bool{}
	for _, r := range roles.Roles {
		if id, ok := strings.CutPrefix(r, dynsecRolePrefix); ok {
			known[id] = true
		}
	}
	want := map[string]bool{}
	for _, id := range registered {
		want[id] = true
		if !known[id] {
			missing = append(missing, id)
		}
	}
	var errsOut []error
	for id := range known {
		if !want[id] {
			if err := d.DeleteGateway(ctx, id); err != nil {
				errsOut = append(errsOut, err)
			} else {
				d.log.Info("mqtt dynamic security: removed a gateway the registry no longer has", "gateway", id)
			}
		}
	}
	return missing, errors.Join(errsOut...)
}

// Close disconnects.
func (d *DynSec) Close() { d.client.Disconnect(250) }
