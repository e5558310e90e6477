package notify_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/suilong/suilong/internal/mailtest"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/notify"
)

// An email channel's recipients get one mail per change through a real SMTP server (mailpit), Chinese first,
// with the alarm's message and a link to the console.
func TestEmailThroughSMTP(t *testing.T) {
	mp := mailtest.Start(t)
	w := newWorld(t)
	ctx := context.Background()
	s := notify.New(notify.Config{ConsoleURL: "https://suilong.example.cn", RetryBase: time.Millisecond}, notify.Deps{DB: w.db,
		Events: feed{w.ingest}, Alarms: feed{w.ingest}, Guard: w.allowAll, Log: slog.New(slog.DiscardHandler),
		SMTP: notify.SMTPConfig{Host: mp.Host, Port: mp.Port, From: "Suilong <alarms@suilong.example.cn>", TLS: "none",
			Username: "suilong", Password: "smtp password"}})
	s.Now = w.now
	ch, _, err := s.CreateChannel(ctx, w.carrier, notify.ChannelInput{Kind: notify.Email, Name: ptr("值班邮箱"),
		To: &[]string{"dispatch@minyun.example.cn", "manager@minyun.example.cn"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRule(ctx, w.carrier, notify.RuleInput{ChannelID: &ch.ID}); err != nil {
		t.Fatal(err)
	}
	a := w.raise(t, "LY-TRK-0001", w.now().Add(-time.Hour))
	var msgs []mailtest.Message
	rounds(t, w, s, func() bool { msgs = mp.Messages(t); return len(msgs) == 1 })
	m := msgs[0]
	if len(m.To) != 2 || m.To[0].Address != "dispatch@minyun.example.cn" || !strings.Contains(m.Subject, "LY-TRK-0001") ||
		!strings.Contains(m.Subject, "温度超标") || m.From.Address != "alarms@suilong.example.cn" {
		t.Fatalf("mail: %+v", m)
	}
	for _, want := range []string{a.MessageZH, a.MessageEN, "https://suilong.example.cn/ops/alarms/"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("mail text lacks %q:\n%s", want, m.Text)
		}
	}
	if strings.Index(m.Text, a.MessageZH) > strings.Index(m.Text, a.MessageEN) {
		t.Error("the English comes before the Chinese")
	}
	ds, _, _ := s.Deliveries(ctx, w.carrier, notify.DeliveryFilter{}, pg.Page{Limit: 10})
	if len(ds) != 1 || ds[0].Status != notify.Sent || ds[0].ChannelKind != notify.Email {
		t.Fatalf("deliveries: %+v", ds)
	}
}
