package notify

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// SMTPConfig is the platform's mail server, set by the operator (SUILONG_SMTP_*). Host empty: email channels
// cannot deliver, and say so in their delivery log.
type SMTPConfig struct {
	Host     string
	Port     int
	Username string
	Password string
	From     string
	// TLS is "starttls" (required), "tls" (implicit TLS, port 465), or "none" (a relay on the same host).
	TLS     string
	Timeout time.Duration
}

// email sends m to the channel's recipients, one message with all of them in To.
func (s *Sender) email(ctx context.Context, ch Channel, m Message) error {
	c := s.SMTP
	if c.Host == "" || c.From == "" {
		return errors.New("no mail server is configured (SUILONG_SMTP_HOST, SUILONG_SMTP_FROM)")
	}
	opts := []gomail.Option{gomail.WithPort(c.Port), gomail.WithTimeout(max(c.Timeout, 5*time.Second))}
	switch c.TLS {
	case "tls":
		opts = append(opts, gomail.WithSSL())
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if c.Username != "" {
		auth := gomail.SMTPAuthPlain
		if c.TLS == "none" {
			auth = gomail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, gomail.WithSMTPAuth(auth), gomail.WithUsername(c.Username), gomail.WithPassword(c.Password))
	}
	client, err := gomail.NewClient(c.Host, opts...)
	if err != nil {
		return fmt.Errorf("mail client: %w", err)
	}
	msg := gomail.NewMsg()
	if err := msg.From(c.From); err != nil {
		return fmt.Errorf("SUILONG_SMTP_FROM: %w", err)
	}
	if err := msg.To(ch.Recipients...); err != nil {
		return fmt.Errorf("recipients: %w", err)
	}
	msg.Subject(title(m))
	msg.SetGenHeader("X-Suilong-Delivery", strconv.FormatInt(m.DeliveryID, 10))
	msg.SetGenHeader("X-Suilong-Event", "alarm."+m.Change)
	msg.SetDate()
	msg.SetMessageID()
	msg.SetBodyString(gomail.TypeTextPlain, plain(m))
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return errors.New(clip(err.Error(), 300))
	}
	return nil
}
