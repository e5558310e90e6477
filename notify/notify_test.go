package notify_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/rules"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg"
	"github.com/suilong/suilong/internal/pg/pgtest"
	"github.com/suilong/suilong/notify"
)

// feed is ingest's alarm log as notify reads it (what cmd/suilong's adapter does).
type feed struct{ s *ingest.Store }

func (f feed) AlarmEvents(ctx context.Context, after int64, limit int) ([]notify.Event, error) {
	evs, err := f.s.AlarmEvents(ctx, after, limit)
	out := make([]notify.Event, len(evs))
	for i, e := range evs {
		out[i] = notify.Event{ID: e.ID, AlarmID: e.AlarmID, AssetID: e.AssetID, OrgID: e.OrgID, Change: e.Change, At: e.At, Alarm: e.Alarm}
	}
	return out, err
}

func (f feed) AlarmNow(ctx context.Context, id int64) (json.RawMessage, error) {
	a, err := f.s.Alarm(ctx, id)
	if err != nil {
		return nil, err
	}
	return json.Marshal(a)
}

type world struct {
	db       *pgxpool.Pool
	ingest   *ingest.Store
	auth     *auth.Store
	staff    auth.Principal
	carrier  auth.Principal
	other    auth.Principal
	clock    time.Time
	clockMu  sync.Mutex
	allowAll *notify.Guard
}

func (w *world) now() time.Time {
	w.clockMu.Lock()
	defer w.clockMu.Unlock()
	return w.clock
}

func (w *world) advance(d time.Duration) {
	w.clockMu.Lock()
	w.clock = w.clock.Add(d)
	w.clockMu.Unlock()
}

// newWorld is a database with a coordinating office, two carriers each owning a truck, and a clock.
func newWorld(t *testing.T) *world {
	t.Helper()
	db := pgtest.New(t)
	w := &world{db: db, ingest: ingest.NewStore(db), auth: auth.NewStore(db), clock: time.Now().Truncate(time.Second)}
	w.ingest.Now = w.now
	ctx := context.Background()
	org := func(name string, role auth.Role) auth.Principal {
		o, err := w.auth.CreateOrg(ctx, name, role)
		if err != nil {
			t.Fatal(err)
		}
		return auth.Principal{OrgID: o.ID, OrgName: o.Name, Role: o.Role, Username: "u" + name}
	}
	w.staff = org("广州市协作办", auth.RoleCoordinator)
	w.carrier = org("闽运冷链", auth.RoleCarrier)
	w.other = org("粤海物流", auth.RoleCarrier)
	for _, a := range []struct {
		id  string
		org int64
	}{{"LY-TRK-0001", w.carrier.OrgID}, {"GZ-TRK-0002", w.other.OrgID}} {
		if _, err := w.ingest.CreateAsset(ctx, ingest.Asset{ID: a.id, Kind: ingest.KindTruck, OrgID: &a.org}); err != nil {
			t.Fatal(err)
		}
	}
	w.allowAll = &notify.Guard{AllowHTTP: true, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	return w
}

func (w *world) service(cfg notify.Config) *notify.Service {
	if cfg.RetryBase == 0 {
		cfg.RetryBase = time.Millisecond
	}
	s := notify.New(cfg, notify.Deps{DB: w.db, Events: feed{w.ingest}, Alarms: feed{w.ingest}, Guard: w.allowAll,
		Log: slog.New(slog.DiscardHandler)})
	s.Now = w.now
	return s
}

// raise stores an excursion on the asset as the rules would, and returns it.
func (w *world) raise(t *testing.T, asset string, start time.Time) ingest.Alarm {
	t.Helper()
	changed, err := w.ingest.ApplyAlarms(context.Background(), []rules.Alarm{{SensorID: asset + "-A", AssetID: asset, Kind: rules.Excursion,
		Start: start, RaisedAt: start.Add(15 * time.Minute), PeakC: 9.5, BandLo: 0, BandHi: 4, DegreeMinutes: 40}})
	if err != nil || len(changed) != 1 {
		t.Fatalf("raise: %v %v", changed, err)
	}
	return changed[0]
}

// receiver is a webhook endpoint that checks every signature with the channel's secret.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	secret  string
	fail    int // answer 500 to this many requests first
	got     []http.Header
	bodies  [][]byte
	badSigs int
}

func newReceiver(t *testing.T, secret string, fail int) *receiver {
	r := &receiver{secret: secret, fail: fail}
	r.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		defer r.mu.Unlock()
		mac := hmac.New(sha256.New, []byte(r.secret))
		mac.Write(body)
		if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); !hmac.Equal([]byte(req.Header.Get("X-Suilong-Signature")), []byte(want)) {
			r.badSigs++
			rw.WriteHeader(401)
			return
		}
		if r.fail > 0 {
			r.fail--
			rw.WriteHeader(500)
			return
		}
		r.got = append(r.got, req.Header.Clone())
		r.bodies = append(r.bodies, body)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

// rounds runs the service until cond holds (each round also advances the clock past any backoff).
func rounds(t *testing.T, w *world, s *notify.Service, cond func() bool) {
	t.Helper()
	for i := 0; i < 50 && !cond(); i++ {
		if err := s.Round(context.Background()); err != nil {
			t.Fatal(err)
		}
		w.advance(time.Second)
	}
	if !cond() {
		t.Fatal("the condition did not come true within 50 rounds")
	}
}

func ptr[T any](v T) *T { return &v }

// A webhook gets the alarm object, signed with its secret, once per change: failures are retried with every
// attempt in the delivery log, a second process planning the same events adds nothing, and the channel's
// answers never show its secret.
func TestWebhookSignedRetriedAndDeduplicated(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	rcv := newReceiver(t, "a shared secret", 2)
	s := w.service(notify.Config{})
	ch, shown, err := s.CreateChannel(ctx, w.carrier, notify.ChannelInput{Kind: notify.Webhook, Name: ptr("dispatch"),
		URL: ptr(rcv.URL + "/hook?token=abc"), Secret: ptr("a shared secret")})
	if err != nil || shown != "" {
		t.Fatalf("channel: %v %q", err, shown)
	}
	doc, _ := json.Marshal(ch)
	if strings.Contains(string(doc), "a shared secret") || strings.Contains(string(doc), "abc") || !strings.Contains(string(doc), `"secret_set":true`) {
		t.Fatalf("the channel's answer shows its secret or its URL's token: %s", doc)
	}
	if _, err := s.CreateRule(ctx, w.carrier, notify.RuleInput{ChannelID: &ch.ID}); err != nil {
		t.Fatal(err)
	}
	// A webhook created without a secret gets one, shown once.
	_, gen, err := s.CreateChannel(ctx, w.carrier, notify.ChannelInput{Kind: notify.Webhook, Name: ptr("spare"), URL: ptr(rcv.URL)})
	if err != nil || len(gen) != 64 {
		t.Fatalf("generated secret: %q %v", gen, err)
	}

	a := w.raise(t, "LY-TRK-0001", w.now().Add(-30*time.Minute))
	w.raise(t, "GZ-TRK-0002", w.now().Add(-30*time.Minute)) // another carrier's truck: not this channel's
	rounds(t, w, s, func() bool { return rcv.count() == 1 })
	if rcv.badSigs != 0 {
		t.Fatalf("%d requests with a bad signature", rcv.badSigs)
	}
	var got ingest.Alarm
	if err := json.Unmarshal(rcv.bodies[0], &got); err != nil || got.ID != a.ID || got.Status != "open" || got.MessageZH == "" {
		t.Fatalf("webhook body: %s %v", rcv.bodies[0], err)
	}
	if h := rcv.got[0]; h.Get("X-Suilong-Event") != "alarm.raised" || h.Get("X-Suilong-Delivery") == "" {
		t.Fatalf("headers: %v", h)
	}
	ds, total, err := s.Deliveries(ctx, w.carrier, notify.DeliveryFilter{AlarmIDs: []int64{a.ID}}, pg.Page{Limit: 50})
	if err != nil || total != 1 || ds[0].Status != notify.Sent || ds[0].Attempts != 3 {
		t.Fatalf("deliveries: %+v %d %v", ds, total, err)
	}
	att, err := s.Attempts(ctx, w.carrier, ds[0].ID)
	if err != nil || len(att) != 3 || att[0].OK || *att[0].StatusCode != 500 || att[1].OK || !att[2].OK {
		t.Fatalf("attempts: %+v %v", att, err)
	}
	if _, err := s.Attempts(ctx, w.other, ds[0].ID); errs.CodeOf(err) != errs.NotFound {
		t.Fatalf("another carrier reads the delivery log: %v", err)
	}

	// Two more processes plan and work the same log at once: nothing is sent again.
	var wg sync.WaitGroup
	for range 2 {
		s2 := w.service(notify.Config{})
		wg.Go(func() {
			for range 3 {
				if err := s2.Round(ctx); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	// The rules seeing the same readings again change nothing; an acknowledgement is one more message.
	if again, err := w.ingest.ApplyAlarms(ctx, []rules.Alarm{{SensorID: "LY-TRK-0001-A", AssetID: "LY-TRK-0001", Kind: rules.Excursion,
		Start: a.StartedAt, RaisedAt: a.RaisedAt, PeakC: 9.5, BandLo: 0, BandHi: 4, DegreeMinutes: 40}}); err != nil || len(again) != 0 {
		t.Fatalf("the same view again: %v %v", again, err)
	}
	if _, err := w.ingest.AckAlarm(ctx, a.ID, "dispatcher", "货已转冷库"); err != nil {
		t.Fatal(err)
	}
	rounds(t, w, s, func() bool { return rcv.count() >= 2 })
	for range 3 {
		_ = s.Round(ctx)
	}
	if n := rcv.count(); n != 2 || rcv.got[1].Get("X-Suilong-Event") != "alarm.acknowledged" {
		t.Fatalf("%d messages after the acknowledgement: %v", n, rcv.got)
	}
}

// The group robots get their documented message formats; DingTalk's URL carries the timestamp and the
// signature of its secret; a robot that refuses keeps failing, is listed as failing, and its errors never show
// the URL's access token.
func TestRobots(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	const secret = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
	var mu sync.Mutex
	var wecom, ding []map[string]any
	var dingQuery []string
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/cgi-bin/webhook/send":
			wecom = append(wecom, body)
			_, _ = io.WriteString(rw, `{"errcode":0,"errmsg":"ok"}`)
		case "/robot/send":
			q := r.URL.Query()
			dingQuery = append(dingQuery, r.URL.RawQuery)
			ts := q.Get("timestamp")
			mac := hmac.New(sha256.New, []byte(secret))
			mac.Write([]byte(ts + "\n" + secret))
			if q.Get("access_token") != "tok" || q.Get("sign") != b64(mac.Sum(nil)) {
				_, _ = io.WriteString(rw, `{"errcode":310000,"errmsg":"sign not match"}`)
				return
			}
			ding = append(ding, body)
			_, _ = io.WriteString(rw, `{"errcode":0,"errmsg":"ok"}`)
		default:
			_, _ = io.WriteString(rw, `{"errcode":93000,"errmsg":"invalid webhook url"}`)
		}
	}))
	defer srv.Close()
	s := w.service(notify.Config{MaxAttempts: 4})
	for _, in := range []notify.ChannelInput{
		{Kind: notify.WeCom, Name: ptr("企业微信群"), URL: ptr(srv.URL + "/cgi-bin/webhook/send?key=wecom-key")},
		{Kind: notify.DingTalk, Name: ptr("钉钉群"), URL: ptr(srv.URL + "/robot/send?access_token=tok"), Secret: ptr(secret)},
		{Kind: notify.WeCom, Name: ptr("broken"), URL: ptr(srv.URL + "/gone?key=secret-key")},
	} {
		ch, _, err := s.CreateChannel(ctx, w.staff, in)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateRule(ctx, w.staff, notify.RuleInput{ChannelID: &ch.ID, AlarmKinds: &[]string{"excursion"}}); err != nil {
			t.Fatal(err)
		}
	}
	w.raise(t, "GZ-TRK-0002", w.now().Add(-time.Hour))
	rounds(t, w, s, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(wecom) == 1 && len(ding) == 1
	})
	if md, _ := wecom[0]["markdown"].(map[string]any); wecom[0]["msgtype"] != "markdown" || !strings.Contains(md["content"].(string), "GZ-TRK-0002") ||
		!strings.Contains(md["content"].(string), "温度超标") {
		t.Fatalf("wecom message: %v", wecom[0])
	}
	if md, _ := ding[0]["markdown"].(map[string]any); ding[0]["msgtype"] != "markdown" || !strings.Contains(md["title"].(string), "GZ-TRK-0002") ||
		!strings.Contains(md["text"].(string), "Temperature excursion") {
		t.Fatalf("dingtalk message: %v", ding[0])
	}
	// The broken robot fails on every attempt until it is given up, and is shown as failing.
	rounds(t, w, s, func() bool {
		ds, _, _ := s.Deliveries(ctx, w.staff, notify.DeliveryFilter{Status: notify.Failed}, pg.Page{Limit: 10})
		return len(ds) == 1
	})
	failing, err := s.FailingChannels(ctx, w.staff)
	if err != nil || len(failing) != 1 || failing[0].Name != "broken" || failing[0].Failures != 4 ||
		!strings.Contains(failing[0].LastError, "93000") || strings.Contains(failing[0].LastError, "secret-key") {
		t.Fatalf("failing channels: %+v %v", failing, err)
	}
	if others, _ := s.FailingChannels(ctx, w.carrier); len(others) != 0 {
		t.Fatalf("a carrier sees the coordinators' failing channels: %+v", others)
	}
}

func b64(b []byte) string { return base64Std(b) }

// The DingTalk signature is the documented algorithm: Base64(HMAC-SHA256(secret, timestamp+"\n"+secret)),
// URL-encoded into the URL. The expected values were computed with the Python sample of DingTalk's robot
// documentation (hmac, hashlib.sha256, base64.b64encode, urllib.parse.quote_plus).
func TestDingTalkSignatureMatchesItsDocumentation(t *testing.T) {
	for _, tc := range []struct {
		secret string
		ts     int64
		want   string
	}{
		{"this is secret", 1577262236757, "hmPWwU%2B7lVdm3ZZz0r9tSfx0L4Q26jWOZr9%2BGs6EZQM%3D"},
		{"SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd", 1732442400000, "nCJc3A2xwMyslolI%2FPx0wogj8GQHAhfRxKaOLa6cItk%3D"},
	} {
		if got := queryEscape(notify.DingTalkSign(tc.secret, tc.ts)); got != tc.want {
			t.Errorf("sign(%q, %d) = %s, want %s", tc.secret, tc.ts, got, tc.want)
		}
	}
}

// Webhook URLs configured by organisations cannot reach the platform's own network: plain http, internal
// addresses by literal or by name, and user info are refused when the channel is saved, and a connection that
// resolves to an internal address is refused when it is made.
func TestGuardRefusesInternalAddresses(t *testing.T) {
	g := &notify.Guard{}
	for _, u := range []string{"http://example.com/hook", "https://127.0.0.1/hook", "https://10.1.2.3/x", "https://169.254.169.254/latest/meta-data",
		"https://[::1]:8443/x", "https://localhost/x", "https://user:pw@example.com/x", "ftp://example.com", "https://100.64.0.1/x", "https://[fd00::1]/x"} {
		if err := g.CheckURL(u); err == nil {
			t.Errorf("%s was accepted", u)
		}
	}
	for _, u := range []string{"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k", "https://oapi.dingtalk.com/robot/send?access_token=t", "https://8.8.8.8/hook"} {
		if err := g.CheckURL(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { rw.WriteHeader(204) }))
	defer srv.Close()
	if _, err := g.Client(time.Second).Get(srv.URL); err == nil || !strings.Contains(err.Error(), "internal") {
		t.Fatalf("a connection to %s was made: %v", srv.URL, err)
	}
	allowed := &notify.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	resp, err := allowed.Client(time.Second).Get(srv.URL)
	if err != nil || resp.StatusCode != 204 {
		t.Fatalf("an allowed network: %v", err)
	}
	resp.Body.Close()

	w := newWorld(t)
	s := notify.New(notify.Config{}, notify.Deps{DB: w.db, Guard: g})
	_, _, err = s.CreateChannel(context.Background(), w.carrier, notify.ChannelInput{Kind: notify.Webhook, Name: ptr("x"), URL: ptr("https://192.168.1.10/hook")})
	if e := errs.As(err); e == nil || len(e.Fields) != 1 || e.Fields[0].Field != "url" {
		t.Fatalf("internal webhook URL: %v", err)
	}
	_, _, err = s.CreateChannel(context.Background(), auth.Principal{OrgID: w.carrier.OrgID, Role: auth.RoleGateway}, notify.ChannelInput{Kind: notify.Webhook})
	if errs.CodeOf(err) != errs.Forbidden {
		t.Fatalf("a gateway key made a channel: %v", err)
	}
	_, _, err = s.CreateChannel(context.Background(), w.carrier, notify.ChannelInput{OrgID: &w.other.OrgID, Kind: notify.Email, Name: ptr("x"), To: &[]string{"a@b.cn"}})
	if errs.CodeOf(err) != errs.Forbidden {
		t.Fatalf("a carrier made a channel for another: %v", err)
	}
	_, _, err = s.CreateChannel(context.Background(), w.carrier, notify.ChannelInput{Kind: notify.Email, Name: ptr("x"), To: &[]string{"not an address", "Duty <d@x.cn>"}})
	if e := errs.As(err); e == nil || len(e.Fields) != 2 || e.Fields[0].Field != "to[0]" {
		t.Fatalf("bad recipients: %v", err)
	}
}

// An alarm still unacknowledged when the dispatcher's rule's delay has passed is told to the duty officer's
// rule; one acknowledged in time is not; chains stop at a cycle.
func TestEscalationToTheNextRule(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	dispatcher := newReceiver(t, "d", 0)
	duty := newReceiver(t, "o", 0)
	s := w.service(notify.Config{})
	dch, _, err := s.CreateChannel(ctx, w.carrier, notify.ChannelInput{Kind: notify.Webhook, Name: ptr("dispatcher"), URL: ptr(dispatcher.URL), Secret: ptr("d")})
	if err != nil {
		t.Fatal(err)
	}
	och, _, err := s.CreateChannel(ctx, w.staff, notify.ChannelInput{Kind: notify.Webhook, Name: ptr("duty officer"), URL: ptr(duty.URL), Secret: ptr("o")})
	if err != nil {
		t.Fatal(err)
	}
	// The duty officer's rule hears of nothing by itself (an asset that does not exist): only escalations.
	officer, err := s.CreateRule(ctx, w.staff, notify.RuleInput{ChannelID: &och.ID, AssetIDs: &[]string{"none"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRule(ctx, w.carrier, notify.RuleInput{ChannelID: &dch.ID, EscalateAfter: ptr("15m")}); err == nil {
		t.Fatal("escalate_after without then_rule_id was accepted")
	}
	if _, err := s.CreateRule(ctx, w.other, notify.RuleInput{ChannelID: &dch.ID}); err == nil {
		t.Fatal("a carrier made a rule on another's channel")
	}
	// A carrier cannot point at the coordinators' rule; the coordinators set up the carrier's escalation.
	if _, err := s.CreateRule(ctx, w.carrier, notify.RuleInput{ChannelID: &dch.ID, EscalateAfter: ptr("15m"), ThenRuleID: &officer.ID}); err == nil {
		t.Fatal("a carrier escalated to a rule it cannot see")
	}
	first, err := s.CreateRule(ctx, w.staff, notify.RuleInput{ChannelID: &dch.ID, EscalateAfter: ptr("15m"), ThenRuleID: &officer.ID})
	if err != nil || first.EscalateAfter != "15m0s" || first.OrgID != w.carrier.OrgID {
		t.Fatalf("rule: %+v %v", first, err)
	}
	// A rule escalating back to the first would make a circle.
	if _, err := s.UpdateRule(ctx, w.staff, officer.ID, notify.RuleInput{EscalateAfter: ptr("5m"), ThenRuleID: &first.ID}); !strings.Contains(errString(err), "circle") {
		t.Fatalf("a circle was accepted: %v", err)
	}

	left := w.raise(t, "LY-TRK-0001", w.now().Add(-20*time.Minute))
	handled := w.raise(t, "LY-TRK-0001", w.now().Add(-10*time.Minute))
	rounds(t, w, s, func() bool { return dispatcher.count() == 2 })
	if duty.count() != 0 {
		t.Fatal("the duty officer was told at once")
	}
	if _, err := w.ingest.AckAlarm(ctx, handled.ID, "dispatcher", "已联系司机"); err != nil {
		t.Fatal(err)
	}
	w.advance(14 * time.Minute)
	_ = s.Round(ctx)
	if duty.count() != 0 {
		t.Fatal("escalated before its delay")
	}
	w.advance(2 * time.Minute)
	rounds(t, w, s, func() bool { return duty.count() == 1 })
	for range 3 {
		w.advance(time.Hour)
		_ = s.Round(ctx)
	}
	var got ingest.Alarm
	if err := json.Unmarshal(duty.bodies[0], &got); err != nil || got.ID != left.ID || duty.got[0].Get("X-Suilong-Event") != "alarm.escalated" || duty.count() != 1 {
		t.Fatalf("escalation: %d messages, first %s", duty.count(), duty.bodies[0])
	}
}

func errString(err error) string {
	if e := errs.As(err); e != nil {
		var b strings.Builder
		b.WriteString(e.Message)
		for _, f := range e.Fields {
			b.WriteString(" " + f.Field + ": " + f.Message)
		}
		return b.String()
	}
	if err == nil {
		return ""
	}
	return err.Error()
}
