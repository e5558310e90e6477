package ingest

import (
	"context"
	"crypto/subtle"
	"strings"
)

// OwnsClientID says whether a gateway may connect under clientID: its own id, or its id followed by a separator
// ('-', '_', ':', '/' or '.') and a suffix, for firmware that adds one. Ids that also belong that way to a
// longer registered gateway id are that gateway's: "LY-GW" may not use "LY-GW-2" or "LY-GW-2-a" when a gateway
// "LY-GW-2" exists.
func OwnsClientID(gatewayID, clientID string, registered func(id string) bool) bool {
	if clientID == gatewayID {
		return true
	}
	n := len(gatewayID)
	if len(clientID) <= n+1 || clientID[:n] != gatewayID || !isSeparator(clientID[n]) {
		return false
	}
	for i := n + 1; i < len(clientID); i++ {
		if isSeparator(clientID[i]) && registered(clientID[:i]) {
			return false
		}
	}
	return !registered(clientID)
}

func isSeparator(c byte) bool { return c == '-' || c == '_' || c == ':' || c == '/' || c == '.' }

// GatewayMay is the gateways' ACL: a gateway publishes its own readings and status, and subscribes to its own
// commands (and below).
func GatewayMay(gatewayID, topic string, write bool) bool {
	if write {
		return topic == TopicReadings+gatewayID || topic == TopicStatus+gatewayID
	}
	own := TopicCommands + gatewayID
	return topic == own || strings.HasPrefix(topic, own+"/")
}

// PlatformClient is the platform's own MQTT client on an external broker (SUILONG_MQTT_USERNAME and
// _PASSWORD): it may do anything.
type PlatformClient struct{ User, Password string }

// BrokerDecision is the answer to an external broker asking whether a client may connect.
type BrokerDecision struct {
	Allow     bool
	Superuser bool   // the platform's own client
	Reason    string // why not, for the broker's log
}

// clientIDPrefixes are the ids a gateway connecting under clientID could be or be shadowed by: the client id
// itself and each part of it before a separator (OwnsClientID asks about these).
func clientIDPrefixes(clientID string) []string {
	out := []string{clientID}
	for i := 1; i < len(clientID); i++ {
		if isSeparator(clientID[i]) {
			out = append(out, clientID[:i])
		}
	}
	return out
}

// BrokerAuthenticate answers an external broker's authentication of a client (EMQX's HTTP authenticator):
// the platform's own client with its password; a registered gateway with its password and a client id of its
// own (OwnsClientID). Errors: Internal when the registry cannot be asked (the broker then refuses).
func (s *Service) BrokerAuthenticate(ctx context.Context, user, password, clientID string) (BrokerDecision, error) {
	if user == "" {
		return BrokerDecision{Reason: "no username"}, nil
	}
	if p := s.Platform; p.User != "" && user == p.User {
		if subtle.ConstantTimeCompare([]byte(password), []byte(p.Password)) == 1 {
			return BrokerDecision{Allow: true, Superuser: true}, nil
		}
		return BrokerDecision{Reason: "wrong password"}, nil
	}
	creds, err := s.Store.GatewayCredentialsOf(ctx, append(clientIDPrefixes(clientID), user))
	if err != nil {
		return BrokerDecision{}, err
	}
	registered := map[string][]byte{}
	for _, c := range creds {
		registered[c.ID] = c.PasswordHash
	}
	hash, ok := registered[user]
	switch {
	case !ok:
		return BrokerDecision{Reason: "no such gateway"}, nil
	case !PasswordMatches(hash, password):
		return BrokerDecision{Reason: "wrong password"}, nil
	case !OwnsClientID(user, clientID, func(id string) bool { _, ok := registered[id]; return ok }):
		return BrokerDecision{Reason: "client id " + clientID + " is not the gateway's own"}, nil
	}
	return BrokerDecision{Allow: true}, nil
}

// BrokerAuthorize answers an external broker's authorisation of a publish or subscribe (EMQX's HTTP
// authorizer): the platform's own client may do anything, a gateway what GatewayMay allows.
func (s *Service) BrokerAuthorize(user, topic string, publish bool) bool {
	if s.Platform.User != "" && user == s.Platform.User {
		return true
	}
	return user != "" && GatewayMay(user, topic, publish)
}
