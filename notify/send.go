package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Message is what one delivery says: the alarm object (the webhook body) and its reading for people.
type Message struct {
	DeliveryID int64
	Change     string
	Alarm      Alarm
	Body       json.RawMessage
	// Link is the alarm on the console ("" when the platform's public URL is unknown).
	Link string
}

// Sender delivers messages on every kind of channel.
type Sender struct {
	HTTP *http.Client
	SMTP SMTPConfig
	Now  func() time.Time
}

// Send delivers m on ch. It returns the HTTP status (0 for email or no answer) and an error that never holds
// the channel's URL or secret.
func (s *Sender) Send(ctx context.Context, ch Channel, m Message) (int, error) {
	switch ch.Kind {
	case Webhook:
		return s.webhook(ctx, ch, m)
	case WeCom:
		body, _ := json.Marshal(map[string]any{"msgtype": "markdown", "markdown": map[string]string{"content": clip(markdown(m), 4000)}})
		return s.robot(ctx, ch.URL, body)
	case DingTalk:
		u := ch.URL
		if ch.Secret != "" {
			pu, err := url.Parse(u)
			if err != nil {
				return 0, errors.New("the channel's URL cannot be parsed")
			}
			ts := s.Now().UnixMilli()
			q := pu.Query()
			q.Set("timestamp", strconv.FormatInt(ts, 10))
			q.Set("sign", DingTalkSign(ch.Secret, ts))
			pu.RawQuery = q.Encode()
			u = pu.String()
		}
		body, _ := json.Marshal(map[string]any{"msgtype": "markdown",
			"markdown": map[string]string{"title": clip(title(m), 100), "text": clip(markdown(m), 4000)}})
		return s.robot(ctx, u, body)
	case Email:
		return 0, s.email(ctx, ch, m)
	}
	return 0, fmt.Errorf("unknown channel kind %q", ch.Kind)
}

// Signature is the X-Suilong-Signature of a webhook body: "sha256=" and the hex HMAC-SHA256 of the body under
// the channel's secret.
func Signature(secret string, body []byte) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write(body)
	return "sha256=" + hex.EncodeToString(h.Sum(nil))
}

// DingTalkSign is a DingTalk custom robot's signature (加签) for a timestamp in milliseconds: Base64 of the
// HMAC-SHA256, keyed with the secret, of timestamp + "\n" + secret. It goes URL-encoded into the sign
// parameter of the robot's URL, beside timestamp.
func DingTalkSign(secret string, tsMillis int64) string {
	h := hmac.New(sha256.New, []byte(secret))
	h.Write([]byte(strconv.FormatInt(tsMillis, 10) + "\n" + secret))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func (s *Sender) webhook(ctx context.Context, ch Channel, m Message) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ch.URL, bytes.NewReader(m.Body))
	if err != nil {
		return 0, errors.New("the channel's URL cannot be used")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Suilong-Notify/1")
	req.Header.Set("X-Suilong-Event", "alarm."+m.Change)
	req.Header.Set("X-Suilong-Delivery", strconv.FormatInt(m.DeliveryID, 10))
	if ch.Secret != "" {
		req.Header.Set("X-Suilong-Signature", Signature(ch.Secret, m.Body))
	}
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return 0, cleanErr(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("the receiver answered HTTP %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// robot posts a group robot's message; both WeCom and DingTalk answer {"errcode":0,"errmsg":"ok"} on success.
func (s *Sender) robot(ctx context.Context, u string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("the channel's URL cannot be used")
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := s.HTTP.Do(req)
	if err != nil {
		return 0, cleanErr(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("the robot answered HTTP %d", resp.StatusCode)
	}
	var ans struct {
		ErrCode *int   `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if json.Unmarshal(raw, &ans) != nil || ans.ErrCode == nil {
		return resp.StatusCode, errors.New("the robot's answer is not {\"errcode\":…}")
	}
	if *ans.ErrCode != 0 {
		return resp.StatusCode, fmt.Errorf("the robot refused the message: errcode %d %s", *ans.ErrCode, clip(ans.ErrMsg, 200))
	}
	return resp.StatusCode, nil
}

// cleanErr drops the URL from an HTTP client's error: a robot's URL holds its access key.
func cleanErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("no answer in time")
	}
	return errors.New(clip(err.Error(), 300))
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

var kindWords = map[string][2]string{
	"excursion":     {"温度超标", "Temperature excursion"},
	"door_open":     {"门开启过久", "Door open too long"},
	"sensor_silent": {"传感器离线", "Sensor silent"},
}

var changeWords = map[string][2]string{
	"raised":       {"新告警", "Raised"},
	"ended":        {"已恢复", "Ended"},
	"acknowledged": {"已确认", "Acknowledged"},
	"withdrawn":    {"已撤回", "Withdrawn"},
	"reopened":     {"再次发生", "Reopened"},
	"escalated":    {"升级：仍未确认", "Escalated: still unacknowledged"},
}

// Words returns the Chinese and English names of an alarm kind or a change.
func Words(key string) (zh, en string) {
	if w, ok := kindWords[key]; ok {
		return w[0], w[1]
	}
	if w, ok := changeWords[key]; ok {
		return w[0], w[1]
	}
	return key, key
}

func title(m Message) string {
	kz, ke := Words(m.Alarm.Kind)
	cz, ce := Words(m.Change)
	return fmt.Sprintf("【%s】%s %s · %s / %s: %s", cz, kz, m.Alarm.AssetID, ce, ke, m.Alarm.AssetID)
}

// plain is the message as text, Chinese first: the body of emails.
func plain(m Message) string {
	var b strings.Builder
	kz, ke := Words(m.Alarm.Kind)
	cz, ce := Words(m.Change)
	fmt.Fprintf(&b, "%s · %s · %s\n%s · %s · %s\n\n", cz, kz, m.Alarm.AssetID, ce, ke, m.Alarm.AssetID)
	fmt.Fprintf(&b, "%s\n%s\n\n", m.Alarm.MessageZH, m.Alarm.MessageEN)
	fmt.Fprintf(&b, "告警编号 Alarm: %d\n状态 Status: %s\n", m.Alarm.ID, m.Alarm.Status)
	if m.Alarm.AckedBy != nil {
		fmt.Fprintf(&b, "确认人 Acknowledged by: %s\n", *m.Alarm.AckedBy)
		if m.Alarm.AckComment != nil && *m.Alarm.AckComment != "" {
			fmt.Fprintf(&b, "处置说明 Comment: %s\n", *m.Alarm.AckComment)
		}
	}
	if m.Link != "" {
		fmt.Fprintf(&b, "\n在值班控制台处理 Handle it on the console: %s\n", m.Link)
	}
	return b.String()
}

// mdEscape keeps text from becoming markdown (a sensor name cannot make a link).
var mdEscape = strings.NewReplacer("*", "\\*", "_", "\\_", "[", "\\[", "]", "\\]", "`", "\\`", "<", "&lt;", ">", "&gt;", "#", "\\#")

// markdown is the message for the group robots.
func markdown(m Message) string {
	var b strings.Builder
	kz, ke := Words(m.Alarm.Kind)
	cz, ce := Words(m.Change)
	fmt.Fprintf(&b, "**【%s】%s · %s**\n%s · %s\n\n", cz, kz, mdEscape.Replace(m.Alarm.AssetID), ce, ke)
	fmt.Fprintf(&b, "> %s\n> %s\n\n", mdEscape.Replace(m.Alarm.MessageZH), mdEscape.Replace(m.Alarm.MessageEN))
	fmt.Fprintf(&b, "告警编号 Alarm %d · 状态 Status %s\n", m.Alarm.ID, m.Alarm.Status)
	if m.Alarm.AckedBy != nil {
		fmt.Fprintf(&b, "\n确认人 Acknowledged by: %s\n", mdEscape.Replace(*m.Alarm.AckedBy))
	}
	if m.Link != "" {
		fmt.Fprintf(&b, "\n[在值班控制台处理 Open on the console](%s)\n", m.Link)
	}
	return b.String()
}
