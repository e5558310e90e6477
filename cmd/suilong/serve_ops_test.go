package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/suilong/suilong/ingest"
	"github.com/suilong/suilong/ingest/ingesttest"
	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/auth/authtest"
	"github.com/suilong/suilong/internal/browsertest"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/internal/pg/pgtest"
)

// hookReceiver is a webhook endpoint of a notification channel: it checks every signature with the secret.
type hookReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	secret  string
	events  []string
	bodies  [][]byte
	badSigs int
}

func newHookReceiver(t *testing.T, secret string) *hookReceiver {
	r := &hookReceiver{secret: secret}
	r.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		mac := hmac.New(sha256.New, []byte(r.secret))
		mac.Write(body)
		r.mu.Lock()
		defer r.mu.Unlock()
		if req.Header.Get("X-Suilong-Signature") != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
			r.badSigs++
			rw.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.events = append(r.events, req.Header.Get("X-Suilong-Event"))
		r.bodies = append(r.bodies, body)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *hookReceiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

func (r *hookReceiver) count(event string) int {
	n := 0
	for _, e := range r.got() {
		if e == event {
			n++
		}
	}
	return n
}

// opsWorld is a serve with two logistics companies (carriers), each with its own gateway and asset, and a
// coordinating office; every organisation has a person who signs in.
type opsWorld struct {
	ts                       *testServer
	db                       *pgxpool.Pool
	coordKey, minyunKey      string
	yuehaiKey                string
	minyun, yuehai           auth.Org
	gwTruck, gwStore         ingesttest.Gateway
	truck, store             string
	dispatcherHook, dutyHook *hookReceiver
}

const opsPassword = "ops console 2027"

func newOpsWorld(t *testing.T, extra ...string) *opsWorld {
	t.Helper()
	args := append([]string{"--notify-allow-http", "--notify-allow-nets", "127.0.0.0/8", "--notify-poll", "200ms",
		"--notify-retry-base", "200ms"}, extra...)
	ts := startServe(t, args...)
	ctx := context.Background()
	db := ts.DB(t)
	w := &opsWorld{ts: ts, db: db, truck: "LY-TRK-0101", store: "GZ-CS-0201"}
	var coord auth.Org
	coord, w.coordKey = authtest.Org(t, db, "广州市对口协作办 duty office", auth.RoleCoordinator)
	w.minyun, w.minyunKey = authtest.Org(t, db, "龙岩闽运冷链物流有限公司", auth.RoleCarrier)
	w.yuehai, w.yuehaiKey = authtest.Org(t, db, "粤海冷链仓储", auth.RoleCarrier)
	as := auth.NewStore(db)
	for _, u := range []struct {
		org  int64
		name string
		city auth.City
	}{{coord.ID, "duty", auth.CityGuangzhou}, {w.minyun.ID, "dispatch", auth.CityLongyan}, {w.yuehai.ID, "yuehai", auth.CityGuangzhou}} {
		if _, err := as.CreateUser(ctx, auth.NewUser{OrgID: u.org, Username: u.name, City: u.city, Password: opsPassword}); err != nil {
			t.Fatal(err)
		}
	}
	st := ingest.NewStore(db)
	w.gwTruck = ingesttest.Register(t, st, "LY-GW-0101", w.truck, ingest.KindTruck, ingesttest.Band(0, 4), w.truck+"-A", w.truck+"-B")
	w.gwStore = ingesttest.Register(t, st, "GZ-GW-0201", w.store, ingest.KindColdStore, ingesttest.Band(-25, -18), w.store+"-A")
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`UPDATE assets SET org_id = $1, city = '龙岩', name = '闽运冷藏车 0101' WHERE id = $2`, []any{w.minyun.ID, w.truck}},
		{`UPDATE gateways SET org_id = $1 WHERE id = $2`, []any{w.minyun.ID, w.gwTruck.ID}},
		{`UPDATE assets SET org_id = $1, city = '广州', name = '粤海江南冷库' WHERE id = $2`, []any{w.yuehai.ID, w.store}},
		{`UPDATE gateways SET org_id = $1 WHERE id = $2`, []any{w.yuehai.ID, w.gwStore.ID}},
	} {
		if _, err := db.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func (w *opsWorld) must(t *testing.T, method, path, key string, body any, want int, out any) {
	t.Helper()
	code, b := w.ts.call(t, method, path, key, body)
	if code != want {
		t.Fatalf("%s %s = %d, want %d: %s", method, path, code, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatal(err)
		}
	}
}

// notifications sets up, through the API, the carrier's dispatcher webhook and the duty office's webhook, with
// the dispatcher's rule escalating to the duty officer's after escalate.
func (w *opsWorld) notifications(t *testing.T, escalate string) {
	t.Helper()
	w.dispatcherHook, w.dutyHook = newHookReceiver(t, "dispatcher secret"), newHookReceiver(t, "duty secret")
	var dch, och struct {
		Channel struct{ ID int64 } `json:"channel"`
	}
	w.must(t, "POST", "/api/v1/notification-channels", w.minyunKey, map[string]any{"kind": "webhook", "name": "闽运调度",
		"url": w.dispatcherHook.URL + "/hook?token=t0k3n", "secret": "dispatcher secret"}, 201, &dch)
	w.must(t, "POST", "/api/v1/notification-channels", w.coordKey, map[string]any{"kind": "webhook", "name": "协作办值班",
		"url": w.dutyHook.URL, "secret": "duty secret"}, 201, &och)
	var officer struct{ ID int64 }
	// The duty officer hears of alarms only by escalation.
	w.must(t, "POST", "/api/v1/notification-rules", w.coordKey, map[string]any{"channel_id": och.Channel.ID, "name": "值班员",
		"asset_ids": []string{"(escalations only)"}}, 201, &officer)
	w.must(t, "POST", "/api/v1/notification-rules", w.coordKey, map[string]any{"channel_id": dch.Channel.ID, "name": "调度员",
		"alarm_kinds": []string{"excursion"}, "escalate_after": escalate, "then_rule_id": officer.ID}, 201, nil)
}

// excursion publishes 20 minutes of readings over MQTT: the truck at 9 °C (its band is 0–4 °C, so an excursion
// opens after 15 minutes), the cold store in its band; and one malformed message for the dead letter.
func (w *opsWorld) excursion(t *testing.T) {
	t.Helper()
	now := time.Now().Truncate(time.Second)
	var truck, store []string
	for i := 20; i >= 0; i-- {
		at := now.Add(-time.Duration(i) * time.Minute).UTC().Format(time.RFC3339)
		truck = append(truck, fmt.Sprintf(`{"sensor_id":"%s-A","ts":%q,"temp_c":9.0,"door_open":false,"battery_pct":81}`, w.truck, at),
			fmt.Sprintf(`{"sensor_id":"%s-B","ts":%q,"temp_c":3.5,"battery_pct":77}`, w.truck, at))
		store = append(store, fmt.Sprintf(`{"sensor_id":"%s-A","ts":%q,"temp_c":-20.5,"battery_pct":95}`, w.store, at))
	}
	c := ingesttest.Connect(t, "tcp://"+w.ts.MQTT, w.gwTruck.ID, w.gwTruck.ID, w.gwTruck.Password)
	ingesttest.Publish(t, c, ingest.TopicReadings+w.gwTruck.ID, []byte(`{"readings":[`+strings.Join(truck, ",")+`]}`))
	ingesttest.Publish(t, c, ingest.TopicReadings+w.gwTruck.ID, []byte(`{"sensor_id": "LY-TRK-0101-A", "ts": oops}`))
	c2 := ingesttest.Connect(t, "tcp://"+w.ts.MQTT, w.gwStore.ID, w.gwStore.ID, w.gwStore.Password)
	ingesttest.Publish(t, c2, ingest.TopicReadings+w.gwStore.ID, []byte(`{"readings":[`+strings.Join(store, ",")+`]}`))
}

// alarm waits for the truck's open excursion and returns its id.
func (w *opsWorld) alarm(t *testing.T) int64 {
	t.Helper()
	var id int64
	ingesttest.Eventually(t, 30*time.Second, "the truck's excursion", func() bool {
		return w.db.QueryRow(context.Background(), `SELECT id FROM alarms WHERE asset_id = $1 AND kind = 'excursion'`, w.truck).Scan(&id) == nil
	})
	return id
}

func signIn(t *testing.T, ts *testServer, width, height int, user string) *browsertest.Browser {
	t.Helper()
	br := browsertest.New(t, width, height)
	br.Open(t, ts.URL+"/login?next=%2Fops")
	br.Do(t, chromedp.SendKeys(chromedp.CSS("#username"), user), chromedp.SendKeys(chromedp.CSS("#password"), opsPassword),
		chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#summary")))
	return br
}

func fits(t *testing.T, br *browsertest.Browser, width int, page string) {
	t.Helper()
	if w := browsertest.Get(t, br, chromedp.Evaluate[int]("document.documentElement.scrollWidth")); w > width {
		t.Errorf("%s is %d px wide on a %d px screen", page, w, width)
	}
}

// The console end to end: readings published over MQTT through serve raise an excursion on a carrier's
// truck; its dispatcher's webhook hears of it, and, left unacknowledged past the rule's delay, the duty office
// hears of it by escalation. The dispatcher sees on a phone and at a desk only the company's truck, its latest
// temperatures against its band, the chart with the alarm marked, the inbox with the alarm's notifications, the
// dead letter of its gateway with what to fix, and its gateway, whose password it resets; it acknowledges the
// alarm with a comment, which its webhook hears of too. The other carrier sees only its cold store and gets 404
// for the truck and its alarm; the coordinators see both.
func TestOpsConsoleEndToEnd(t *testing.T) {
	w := newOpsWorld(t, "--ops-refresh", "20s")
	w.notifications(t, "3s")
	// A channel whose receiver is gone keeps failing, and the console says so.
	var dead struct {
		Channel struct{ ID int64 } `json:"channel"`
	}
	w.must(t, "POST", "/api/v1/notification-channels", w.minyunKey, map[string]any{"kind": "webhook", "name": "旧调度系统",
		"url": "http://127.0.0.1:9/gone", "secret": "s"}, 201, &dead)
	w.must(t, "POST", "/api/v1/notification-rules", w.minyunKey, map[string]any{"channel_id": dead.Channel.ID}, 201, nil)
	w.excursion(t)
	id := w.alarm(t)
	ingesttest.Eventually(t, 30*time.Second, "the gone receiver's channel failing", func() bool {
		var ch struct{ Failing bool }
		w.must(t, "GET", fmt.Sprintf("/api/v1/notification-channels/%d", dead.Channel.ID), w.minyunKey, nil, 200, &ch)
		return ch.Failing
	})
	defer func() {
		if t.Failed() {
			t.Logf("serve's log:\n%s", w.ts.Logs)
		}
	}()
	ingesttest.Eventually(t, 20*time.Second, "the dispatcher's webhook", func() bool { return w.dispatcherHook.count("alarm.raised") == 1 })
	ingesttest.Eventually(t, 20*time.Second, "the escalation to the duty office", func() bool { return w.dutyHook.count("alarm.escalated") == 1 })
	var latest int
	ingesttest.Eventually(t, 20*time.Second, "the latest readings", func() bool {
		return w.db.QueryRow(context.Background(), `SELECT count(*) FROM sensor_latest`).Scan(&latest) == nil && latest == 3
	})
	if w.dispatcherHook.badSigs+w.dutyHook.badSigs != 0 {
		t.Fatal("a webhook was sent with a bad signature")
	}

	// The other carrier's API key sees none of the first one's notifications.
	var list struct{ Total int }
	w.must(t, "GET", "/api/v1/notification-channels", w.yuehaiKey, nil, 200, &list)
	if list.Total != 0 {
		t.Fatalf("the other carrier lists %d channels", list.Total)
	}
	w.must(t, "GET", fmt.Sprintf("/api/v1/notification-deliveries?alarm_id=%d", id), w.minyunKey, nil, 200, &list)
	if list.Total != 2 { // its dispatcher's and its gone receiver's; the duty office's escalation is not its own
		t.Fatalf("the carrier's delivery log holds %d deliveries of its alarm", list.Total)
	}

	for _, vp := range []struct {
		name          string
		width, height int
	}{{"phone", 390, 844}, {"laptop", 1280, 900}} {
		br := signIn(t, w.ts, vp.width, vp.height, "dispatch")
		text := br.Text(t, "body")
		for _, want := range []string{"闽运冷藏车 0101", "9.0 °C", "3.5 °C", "0–4 °C", "电量", "81%", "LY-GW-0101"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s fleet lacks %q", vp.name, want)
			}
		}
		if strings.Contains(text, w.store) || br.Text(t, "#open-count") != "1" || br.Count(t, "meta[http-equiv=refresh][content='20']") != 1 {
			t.Errorf("%s fleet: %.600s", vp.name, text)
		}
		if f := br.Text(t, "#failing-channels"); !strings.Contains(f, "旧调度系统") || !strings.Contains(f, "连续失败") {
			t.Errorf("%s fleet does not show the failing channel: %s", vp.name, f)
		}
		if n := br.Count(t, "script"); n != 0 {
			t.Errorf("%d scripts on the console", n)
		}
		fits(t, br, vp.width, "the fleet")
		br.Screenshot(t, vp.name+"-fleet")

		br.Open(t, w.ts.URL+"/ops/assets/"+w.truck)
		if n := br.Count(t, "#chart .alarm-mark"); n != 1 {
			t.Errorf("%s chart marks %d alarms", vp.name, n)
		}
		if br.Count(t, "#chart .band") != 1 || br.Count(t, "#chart polyline") != 1 || !strings.Contains(br.Text(t, "#sensors"), "LY-GW-0101") {
			t.Errorf("%s asset page: %.500s", vp.name, br.Text(t, "body"))
		}
		fits(t, br, vp.width, "the asset page")
		br.Screenshot(t, vp.name+"-asset")
		br.Open(t, w.ts.URL+"/ops/assets/"+w.truck+"?range=7d")
		if n := br.Count(t, "#chart .alarm-mark"); n != 1 || br.Count(t, "#range-7d.on") != 1 {
			t.Errorf("%s 7-day chart marks %d alarms", vp.name, n)
		}

		br.Open(t, w.ts.URL+"/ops/alarms")
		if inbox := br.Text(t, fmt.Sprintf("#alarm-%d", id)); !strings.Contains(inbox, "温度超标") || !strings.Contains(inbox, "闽运调度") ||
			!strings.Contains(inbox, "已送达") {
			t.Errorf("%s inbox: %s", vp.name, inbox)
		}
		fits(t, br, vp.width, "the inbox")
		br.Screenshot(t, vp.name+"-alarms")

		br.Open(t, w.ts.URL+"/ops/dead-letters")
		if dl := br.Text(t, "#dead-letters"); !strings.Contains(dl, "malformed_json") || !strings.Contains(dl, "LY-GW-0101") ||
			!strings.Contains(dl, "合法 JSON") || !strings.Contains(dl, "not a JSON object") {
			t.Errorf("%s dead letters: %s", vp.name, dl)
		}
		fits(t, br, vp.width, "the dead letters")
		br.Screenshot(t, vp.name+"-dead-letters")

		br.Open(t, w.ts.URL+"/ops/gateways")
		if gws := br.Text(t, "#gateways"); !strings.Contains(gws, "LY-GW-0101") || strings.Contains(gws, "GZ-GW-0201") {
			t.Errorf("%s gateways: %s", vp.name, gws)
		}
		fits(t, br, vp.width, "the gateways")
		br.Screenshot(t, vp.name+"-gateways")

		br.Open(t, w.ts.URL+"/ops/channels")
		if chs := br.Text(t, "#channels"); !strings.Contains(chs, "闽运调度") || !strings.Contains(chs, "token=***") || strings.Contains(chs, "t0k3n") ||
			strings.Contains(chs, "协作办值班") {
			t.Errorf("%s channels: %s", vp.name, chs)
		}
		br.Screenshot(t, vp.name+"-channels")

		if vp.name != "laptop" {
			continue
		}
		// Acknowledge from the inbox, with a comment.
		br.Open(t, w.ts.URL+"/ops/alarms")
		br.Do(t, chromedp.Click(chromedp.CSS(fmt.Sprintf("#alarm-%d input[type=checkbox]", id))),
			chromedp.SendKeys(chromedp.CSS("#comment"), "已通知司机开启制冷 <b>并复检</b>"),
			chromedp.Click(chromedp.CSS("#ack-selected")), chromedp.WaitVisible(chromedp.CSS("#ack-results")))
		if res := br.Text(t, "#ack-results"); !strings.Contains(res, "已确认 1") {
			t.Errorf("acknowledgement: %s", res)
		}
		br.Open(t, fmt.Sprintf("%s/ops/alarms/%d", w.ts.URL, id))
		if st := br.Text(t, "#alarm-status"); !strings.Contains(st, "已确认") {
			t.Errorf("alarm status after the acknowledgement: %s", st)
		}
		if body := br.Text(t, "#alarm"); !strings.Contains(body, "已通知司机开启制冷 <b>并复检</b>") || !strings.Contains(body, "dispatch@") {
			t.Errorf("the comment is not shown as typed: %s", body)
		}
		ingesttest.Eventually(t, 20*time.Second, "the acknowledgement's webhook", func() bool { return w.dispatcherHook.count("alarm.acknowledged") == 1 })
		br.Open(t, fmt.Sprintf("%s/ops/alarms/%d", w.ts.URL, id))
		if notes := br.Text(t, "#notifications"); !strings.Contains(notes, "第 1 次") || !strings.Contains(notes, "已确认") {
			t.Errorf("notification history: %s", notes)
		}
		br.Screenshot(t, "laptop-alarm")

		// Reset the gateway's password: shown once.
		br.Open(t, w.ts.URL+"/ops/gateways")
		br.Do(t, chromedp.Click(chromedp.CSS("#gw-LY-GW-0101 button.reset")), chromedp.WaitVisible(chromedp.CSS("#new-password")))
		pw := br.Text(t, "#new-password")
		if len(pw) < 30 || pw == w.gwTruck.Password {
			t.Errorf("new password %q", pw)
		}
		br.Screenshot(t, "laptop-gateway-reset")
		br.Open(t, w.ts.URL+"/ops/gateways")
		if br.Count(t, "#new-password") != 0 || strings.Contains(br.Text(t, "body"), pw) {
			t.Error("the new password is shown again")
		}
	}
	// Exactly one message per change, and one escalation.
	if got := w.dispatcherHook.got(); len(got) != 2 || w.dutyHook.count("alarm.escalated") != 1 || len(w.dutyHook.got()) != 1 {
		t.Errorf("dispatcher got %v, duty office %v", got, w.dutyHook.got())
	}

	// The other carrier: its cold store only; the truck and its alarm are not found.
	br := signIn(t, w.ts, 1280, 900, "yuehai")
	if text := br.Text(t, "#fleet"); !strings.Contains(text, "粤海江南冷库") || strings.Contains(text, w.truck) || !strings.Contains(text, "-20.5 °C") {
		t.Errorf("the other carrier's fleet: %s", text)
	}
	for _, path := range []string{"/ops/assets/" + w.truck, fmt.Sprintf("/ops/alarms/%d", id)} {
		br.Open(t, w.ts.URL+path)
		if !strings.Contains(br.Text(t, "#error"), "未找到") {
			t.Errorf("the other carrier opened %s", path)
		}
	}
	code, _ := w.ts.call(t, "POST", "/api/v1/notification-channels", "", nil)
	if code != 401 {
		t.Errorf("anonymous channel creation: %d", code)
	}
	// The coordinators see the whole fleet.
	br = signIn(t, w.ts, 1280, 900, "duty")
	if text := br.Text(t, "#fleet"); !strings.Contains(text, w.truck) || !strings.Contains(text, w.store) {
		t.Errorf("the coordinators' fleet: %s", text)
	}
	br.Screenshot(t, "coordinator-fleet")
	_, metrics := w.ts.get(t, "/metrics", "")
	for _, want := range []string{`suilong_notify_attempts_total{kind="webhook",outcome="sent"} 3`, `suilong_notify_escalations_total 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// A restart between an alarm and its notification still notifies once: a serve that does not deliver stores
// the excursion raised by readings over MQTT, and stops; two serves then start on the same database, both
// delivering, and the dispatcher's webhook gets the alarm exactly once.
func TestNotificationAfterRestartExactlyOnce(t *testing.T) {
	w := newOpsWorld(t, "--no-notify-deliver")
	w.notifications(t, "1h")
	w.excursion(t)
	id := w.alarm(t)
	time.Sleep(time.Second) // a delivering process would have sent it by now
	w.ts.Stop(t)
	if n := len(w.dispatcherHook.got()); n != 0 {
		t.Fatalf("a serve with --no-notify-deliver sent %d messages", n)
	}
	flags := []string{"--database-url", w.ts.Cfg.DatabaseURL, "--notify-allow-http", "--notify-allow-nets", "127.0.0.0/8", "--notify-poll", "100ms"}
	a, b := startServe(t, flags...), startServe(t, flags...)
	if a.Cfg.DatabaseURL != w.ts.Cfg.DatabaseURL || b.Cfg.DatabaseURL != w.ts.Cfg.DatabaseURL {
		t.Fatal("the restarted serves use another database")
	}
	ingesttest.Eventually(t, 20*time.Second, "the notification after the restart", func() bool { return w.dispatcherHook.count("alarm.raised") >= 1 })
	time.Sleep(2 * time.Second)
	if got := w.dispatcherHook.got(); len(got) != 1 {
		t.Fatalf("the webhook got %v", got)
	}
	var rows, attempts int
	if err := w.db.QueryRow(context.Background(), `SELECT count(*), coalesce(sum(attempts), 0) FROM notification_deliveries WHERE alarm_id = $1`, id).
		Scan(&rows, &attempts); err != nil || rows != 1 || attempts != 1 {
		t.Fatalf("%d deliveries with %d attempts (%v)", rows, attempts, err)
	}
}

// `suilong admin create-user` makes web accounts for carriers (logistics companies) too, who sign in to the
// console; a gateway operator's organisation still gets none.
func TestCreateUserForACarrier(t *testing.T) {
	dbURL := pgtest.CreateDB(t)
	if _, err := run(t, "", "migrate", "--database-url", dbURL); err != nil {
		t.Fatal(err)
	}
	for _, o := range [][2]string{{"龙岩闽运冷链物流有限公司", "carrier"}, {"gateway vendor", "gateway"}} {
		if _, err := run(t, "", "admin", "create-org", "--database-url", dbURL, "--name", o[0], "--role", o[1]); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("SUILONG_ADMIN_PASSWORD", "dispatcher password 1")
	out, err := run(t, "", "admin", "create-user", "--database-url", dbURL, "--org", "龙岩闽运冷链物流有限公司", "--name", "dispatch", "--city", "longyan")
	if err != nil || !strings.Contains(out, `created user "dispatch" (carrier`) {
		t.Fatalf("carrier user: %q %v", out, err)
	}
	_, err = run(t, "", "admin", "create-user", "--database-url", dbURL, "--org", "gateway vendor", "--name", "vendor", "--city", "longyan")
	if e := errs.As(err); e == nil || len(e.Fields) != 1 || e.Fields[0].Field != "org" {
		t.Fatalf("user of a gateway organisation: %v", err)
	}
}
