package ingestapi

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/suilong/suilong/api/rest"
	"github.com/suilong/suilong/internal/errs"
)

// An external broker asks whether a client may connect and what it may publish or subscribe to, in the request
// shapes of EMQX 5's HTTP authenticator and authorizer (deploy/compose/emqx/emqx.conf configures them). The
// broker authenticates itself with the hook secret (SUILONG_MQTT_HOOK_SECRET) as a bearer token; the answers
// come from the registry, so there is no password file to keep.

type brokerAuthReq struct {
	Username string `json:"username"`
	Password string `json:"password"`
	ClientID string `json:"clientid"`
}

type brokerACLReq struct {
	Username string `json:"username"`
	ClientID string `json:"clientid"`
	Action   string `json:"action"` // publish or subscribe
	Topic    string `json:"topic"`
	QoS      any    `json:"qos"`
	Retain   any    `json:"retain"`
}

// brokerResult is EMQX's answer format: result allow, deny or ignore (the next authenticator decides).
type brokerResult struct {
	Result      string `json:"result"`
	IsSuperuser bool   `json:"is_superuser,omitempty"`
}

// brokerOnly lets through the broker that knows the hook secret, and nobody else; without a secret the hook is
// off.
func (m *Module) brokerOnly(c *gin.Context) {
	if m.hookSecret == "" {
		// 403, not 401: no credential would help until an operator turns the hook on.
		rest.Problem(c, errs.E(errs.Forbidden, "the broker hook is off: set SUILONG_MQTT_HOOK_SECRET and give the broker the same secret"))
		return
	}
	// Constant time, so the secret cannot be found byte by byte from how fast wrong guesses are refused.
	scheme, token, _ := strings.Cut(c.GetHeader("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), []byte(m.hookSecret)) != 1 {
		rest.Problem(c, errs.E(errs.Unauthorized, "the broker hook wants Authorization: Bearer <SUILONG_MQTT_HOOK_SECRET>"))
		return
	}
	c.Next()
}

// brokerAuth answers a refusal as a 200 with result deny: EMQX reads any status but 200 and 204 as "ignore"
// and asks its next source, so only an explicit deny is sure to keep a client out.
func (m *Module) brokerAuth(c *gin.Context) {
	var req brokerAuthReq
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	d, err := m.s.BrokerAuthenticate(c, req.Username, req.Password, req.ClientID)
	if err != nil {
		rest.Problem(c, err) // the broker refuses while the registry cannot be asked
		return
	}
	if !d.Allow {
		// Who and why, never the password: the log is how an operator finds a misconfigured gateway.
		m.s.Log.Info("mqtt hook: connection refused", "user", req.Username, "client_id", req.ClientID, "reason", d.Reason)
		c.JSON(http.StatusOK, brokerResult{Result: "deny"})
		return
	}
	c.JSON(http.StatusOK, brokerResult{Result: "allow", IsSuperuser: d.Superuser})
}

func (m *Module) brokerACL(c *gin.Context) {
	var req brokerACLReq
	if err := rest.Bind(c, &req); err != nil {
		rest.Problem(c, err)
		return
	}
	// An action we do not know is refused outright rather than judged as a subscribe: it must not end in allow.
	if req.Action != "publish" && req.Action != "subscribe" {
		rest.Problem(c, &errs.Error{Code: errs.Unprocessable, Message: "validation failed",
			Fields: []errs.FieldError{{Field: "action", Message: "must be publish or subscribe"}}})
		return
	}
	result := "deny"
	if m.s.BrokerAuthorize(req.Username, req.Topic, req.Action == "publish") {
		result = "allow"
	}
	c.JSON(http.StatusOK, brokerResult{Result: result})
}
