package trace_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/suilong/suilong/internal/auth"
	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/trace"
)

// notifier stands in for notify's adapter: organisations with a channel take the message.
type notifier struct {
	channels map[int64][]string
	told     map[int64][]string // org → lot codes
}

func (n *notifier) NotifyRecall(_ context.Context, org int64, x trace.RecallNotice) ([]string, error) {
	for _, l := range x.Lots {
		n.told[org] = append(n.told[org], l.Code)
	}
	return n.channels[org], nil
}

type people map[int64][]trace.Person

func (p people) People(_ context.Context, org int64) ([]trace.Person, error) { return p[org], nil }

func mustLot(t *testing.T, fx *fixture, p auth.Principal, n trace.NewLot, evs ...trace.NewEvent) trace.Lot {
	t.Helper()
	l, err := fx.svc.CreateLot(context.Background(), p, n)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if _, err := fx.svc.AddEvent(context.Background(), p, l.ID, e); err != nil {
			t.Fatalf("%s %s: %v", e.Kind, e.AssetID, err)
		}
	}
	return l
}

// A recall from a lot finds the lots that shared its truck at overlapping times (not those before or after),
// with their origin, holder, exposure and peak; a base sees only its own lots and buyers; holders with a
// channel are told, the others are listed with whom to call; the status moves open → notified → closed with
// every action in the audit.
func TestRecall(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Minute)
	at := func(h float64) time.Time { return now.Add(-time.Duration(h * float64(time.Hour))) }
	ev := func(k trace.EventKind, h float64, asset string) trace.NewEvent {
		return trace.NewEvent{Kind: k, At: at(h), AssetID: asset, Location: map[bool]string{true: "广州江南果菜批发市场"}[k == trace.Receive]}
	}
	order := int64(42)
	// The truck reads 3 °C, except 7.5 °C seven hours ago.
	write(t, fx.influx, "LY-TRK-0001", 2, at(12), now, time.Minute, func(_ int, ts time.Time) float64 {
		if !ts.Before(at(7)) && ts.Before(at(6.9)) {
			return 7.5
		}
		return 3
	})
	lotA := mustLot(t, fx, fx.base, trace.NewLot{Product: "choy-sum", QuantityKg: 1500, BaseName: "蛟洋基地", County: "上杭县", HarvestedAt: at(11), OrderID: &order},
		ev(trace.Load, 10, "LY-TRK-0001"), ev(trace.Unload, 6, "LY-TRK-0001"), ev(trace.Receive, 5, ""))
	lotB := mustLot(t, fx, fx.other, trace.NewLot{Product: "choy-sum", QuantityKg: 800, BaseName: "河田基地", County: "长汀县", HarvestedAt: at(9)},
		ev(trace.Load, 8, "LY-TRK-0001"), ev(trace.Unload, 4, "LY-TRK-0001"))
	lotC := mustLot(t, fx, fx.base, trace.NewLot{Product: "choy-sum", QuantityKg: 600, BaseName: "蛟洋基地", County: "上杭县", HarvestedAt: at(4)},
		ev(trace.Load, 3, "LY-TRK-0001"))
	n := &notifier{channels: map[int64][]string{fx.buyer.OrgID: {"wecom 江南市场值班群"}}, told: map[int64][]string{}}
	fx.svc.Notifier = n
	fx.svc.Contacts = people{fx.other.OrgID: {{Name: "李师傅", Username: "li"}}}

	// Who may start what.
	if _, err := fx.svc.CreateRecall(ctx, fx.buyer, trace.NewRecall{LotCode: lotA.Code}); errs.CodeOf(err) != errs.Forbidden {
		t.Errorf("a buyer starts a recall: %v", err)
	}
	if _, err := fx.svc.CreateRecall(ctx, fx.base, trace.NewRecall{LotCode: lotB.Code}); errs.CodeOf(err) != errs.Unprocessable || errs.As(err).Fields[0].Field != "lot_code" {
		t.Errorf("a base recalls another's lot: %v", err)
	}
	from, to := at(9), at(7.5)
	if _, err := fx.svc.CreateRecall(ctx, fx.base, trace.NewRecall{AssetID: "LY-TRK-0001", From: &from, To: &to}); errs.CodeOf(err) != errs.Forbidden || errs.As(err).Fields[0].Field != "lot_code" {
		t.Errorf("a base recalls a truck: %v", err)
	}
	if _, err := fx.svc.CreateRecall(ctx, fx.staff, trace.NewRecall{LotCode: lotA.Code, AssetID: "LY-TRK-0001"}); errs.CodeOf(err) != errs.Unprocessable {
		t.Errorf("two sources: %v", err)
	}
	if _, err := fx.svc.CreateRecall(ctx, fx.staff, trace.NewRecall{AssetID: "LY-TRK-0001", From: &to, To: &from}); errs.CodeOf(err) != errs.Unprocessable || errs.As(err).Fields[0].Field != "to" {
		t.Errorf("a window backwards: %v", err)
	}

	r, err := fx.svc.CreateRecall(ctx, fx.base, trace.NewRecall{LotCode: lotA.Code, Reason: "农残抽检不合格"})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Lots) != 2 || !r.Lots[0].Origin || r.Lots[0].Code != lotA.Code || !r.Lots[1].Redacted || r.Lots[1].Code != "" || r.Lots[1].Base != "" {
		t.Fatalf("the base's view of its recall: %+v", r.Lots)
	}
	a, b := r.Lots[0], r.Lots[1]
	if a.ExposureMinutes != 240 || b.ExposureMinutes != 120 || a.PeakC == nil || *a.PeakC != 7.5 || b.PeakC == nil || *b.PeakC != 7.5 {
		t.Errorf("exposures: A %d min peak %v, B %d min peak %v", a.ExposureMinutes, a.PeakC, b.ExposureMinutes, b.PeakC)
	}
	if a.Holder.OrderID == nil || *a.Holder.OrderID != 42 || a.Holder.Buyer != fx.buyer.OrgName || a.Holder.Market != "广州江南果菜批发市场" ||
		a.Holder.Kg != 1500 || a.Holder.ReceivedAt == nil || !a.Holder.ReceivedAt.Equal(at(5)) || a.State != trace.Delivered || a.County != "上杭县" {
		t.Errorf("lot A upstream and downstream: %+v", a)
	}
	if len(r.Holders) != 1 || r.Holders[0].OrgID != fx.buyer.OrgID {
		t.Errorf("the base sees holders %+v", r.Holders)
	}
	if r.Status != trace.RecallOpen {
		t.Errorf("status %s with a holder not reached", r.Status)
	}

	// Staff see it all: the other base had no channel and is listed with whom to call.
	full, err := fx.svc.Recall(ctx, fx.staff, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if full.Lots[1].Code != lotB.Code || full.Lots[1].Base != fx.other.OrgName || full.Lots[1].State != trace.Between {
		t.Errorf("staff view of lot B: %+v", full.Lots[1])
	}
	var reached, toCall *trace.RecallHolder
	for i, h := range full.Holders {
		switch h.OrgID {
		case fx.buyer.OrgID:
			reached = &full.Holders[i]
		case fx.other.OrgID:
			toCall = &full.Holders[i]
		}
	}
	if reached == nil || len(reached.Channels) != 1 || reached.Notified == nil || toCall == nil || len(toCall.Channels) != 0 ||
		len(toCall.People) != 1 || toCall.People[0].Name != "李师傅" || toCall.Role != "base" {
		t.Errorf("holders: %+v", full.Holders)
	}
	if got := n.told[fx.buyer.OrgID]; len(got) != 1 || got[0] != lotA.Code {
		t.Errorf("the buyer was told of %v", got)
	}
	if _, err := fx.svc.Recall(ctx, fx.other, r.ID); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("another base sees the recall: %v", err)
	}
	if rs, total, err := fx.svc.Recalls(ctx, fx.other, trace.RecallFilter{}); err != nil || total != 0 || len(rs) != 0 {
		t.Errorf("another base lists %d recalls (%v)", total, err)
	}

	// Status: not closed before everyone is told; then notified, closed; the audit says who did what.
	if _, err := fx.svc.SetRecallStatus(ctx, fx.base, r.ID, trace.RecallClosed, ""); errs.CodeOf(err) != errs.Conflict {
		t.Errorf("closed while open: %v", err)
	}
	if _, err := fx.svc.SetRecallStatus(ctx, fx.base, r.ID, trace.RecallNotified, "河田合作社李师傅已电话通知"); err != nil {
		t.Fatal(err)
	}
	done, err := fx.svc.SetRecallStatus(ctx, fx.staff, r.ID, trace.RecallClosed, "两批已下架销毁")
	if err != nil {
		t.Fatal(err)
	}
	var acts []string
	for _, x := range done.Actions {
		acts = append(acts, x.Action+" by "+x.Actor)
	}
	if done.Status != trace.RecallClosed || done.ClosedAt == nil || len(done.Actions) != 4 ||
		!strings.HasPrefix(acts[0], "created by "+fx.base.OrgName) || acts[2] != "notified by "+fx.base.OrgName || acts[3] != "closed by "+fx.staff.OrgName {
		t.Errorf("audit: %v", acts)
	}

	// From the truck and a window: the lots in it then, not lot C that came later.
	rw, err := fx.svc.CreateRecall(ctx, fx.staff, trace.NewRecall{AssetID: "LY-TRK-0001", From: &from, To: &to})
	if err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, l := range rw.Lots {
		codes = append(codes, l.Code)
		if l.ExposureMinutes != 90 && l.Code == lotA.Code {
			t.Errorf("lot A in the window: %d min", l.ExposureMinutes)
		}
	}
	if strings.Join(codes, ",") != lotA.Code+","+lotB.Code || rw.Status != trace.RecallOpen {
		t.Errorf("asset recall found %v", codes)
	}
	_ = lotC
}

// A purge deletes a lot's records only once no lot may still need them: two years after its delivery, later
// for a product whose shelf life plus six months is longer, and never while an open recall lists it.
func TestPurgeKeepsWhatALotNeeds(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	now := time.Now().Truncate(time.Minute)
	ev := func(k trace.EventKind, at time.Time, asset string) trace.NewEvent {
		return trace.NewEvent{Kind: k, At: at, AssetID: asset}
	}
	lot := func(product, asset string) trace.Lot {
		return mustLot(t, fx, fx.base, trace.NewLot{Product: product, QuantityKg: 100, BaseName: "蛟洋基地", County: "上杭县", HarvestedAt: now.Add(-3 * time.Hour)},
			ev(trace.Load, now.Add(-2*time.Hour), asset), ev(trace.Receive, now.Add(-time.Hour), ""))
	}
	// The recalled lot travelled alone, so that its recall lists only it.
	greens, shiitake, recalled := lot("choy-sum", "LY-TRK-0001"), lot("dried-shiitake", "LY-TRK-0001"), lot("choy-sum", "LY-CS-0001")
	if shiitake.ShelfLifeHours != 3*365*24 {
		t.Fatalf("shelf life not copied: %d", shiitake.ShelfLifeHours)
	}
	if _, err := fx.svc.CreateRecall(ctx, fx.base, trace.NewRecall{LotCode: recalled.Code}); err != nil {
		t.Fatal(err)
	}
	ret := trace.Retention{Records: trace.LawMinimum}
	if _, err := fx.svc.Store.Purge(ctx, trace.Retention{Records: 365 * 24 * time.Hour}, now); errs.CodeOf(err) != errs.Invalid {
		t.Errorf("a year's retention accepted: %v", err)
	}
	exists := func(l trace.Lot) bool {
		_, err := fx.svc.Store.Lot(ctx, l.ID)
		return err == nil
	}
	delivered := now.Add(-time.Hour)
	for _, tc := range []struct {
		at                         time.Time
		greens, shiitake, recalled bool
	}{
		{delivered.Add(trace.LawMinimum - time.Minute), true, true, true},
		{delivered.Add(trace.LawMinimum + time.Minute), false, true, true},
		{delivered.Add(3*365*24*time.Hour + trace.ShelfLifeMargin - time.Minute), false, true, true},
		{delivered.Add(3*365*24*time.Hour + trace.ShelfLifeMargin + time.Minute), false, false, true},
	} {
		res, err := fx.svc.Store.Purge(ctx, ret, tc.at)
		if err != nil {
			t.Fatal(err)
		}
		if exists(greens) != tc.greens || exists(shiitake) != tc.shiitake || exists(recalled) != tc.recalled {
			t.Errorf("at delivery + %s: greens %v shiitake %v recalled %v (purged %+v)", tc.at.Sub(delivered), exists(greens), exists(shiitake), exists(recalled), res)
		}
	}
	if evs, err := fx.svc.Store.Events(ctx, greens.ID); err != nil || len(evs) != 0 {
		t.Errorf("the purged lot's events remain: %d %v", len(evs), err)
	}
}

// A handover measured outside the band is flagged in the verdict, in both languages, even when the sensors
// kept the band; one inside it is listed and changes nothing.
func TestHandoverInVerdict(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	now := time.Now().Truncate(trace.BaseEvery)
	write(t, fx.influx, "LY-TRK-0001", 1, now.Add(-3*time.Hour), now, time.Minute, func(int, time.Time) float64 { return 2 })
	temp := func(v float64) *float64 { return &v }
	l := mustLot(t, fx, fx.base, trace.NewLot{Product: "choy-sum", QuantityKg: 100, BaseName: "蛟洋基地", County: "上杭县", HarvestedAt: now.Add(-3 * time.Hour)},
		trace.NewEvent{Kind: trace.Load, At: now.Add(-2 * time.Hour), AssetID: "LY-TRK-0001", HandoverTempC: temp(3.1), MeasuredBy: "张三"})
	for _, bad := range []trace.NewEvent{
		{Kind: trace.Unload, At: now.Add(-time.Hour), AssetID: "LY-TRK-0001", HandoverTempC: temp(61), MeasuredBy: "张三"},
		{Kind: trace.Unload, At: now.Add(-time.Hour), AssetID: "LY-TRK-0001", HandoverTempC: temp(3)},
		{Kind: trace.Unload, At: now.Add(-time.Hour), AssetID: "LY-TRK-0001", MeasuredBy: "张三"},
	} {
		if _, err := fx.svc.AddEvent(ctx, fx.base, l.ID, bad); errs.CodeOf(err) != errs.Unprocessable {
			t.Errorf("%+v accepted: %v", bad, err)
		}
	}
	if _, err := fx.svc.AddEvent(ctx, fx.base, l.ID, trace.NewEvent{Kind: trace.Unload, At: now.Add(-time.Hour), AssetID: "LY-TRK-0001",
		HandoverTempC: temp(7.2), MeasuredBy: "广州南沙冷库 王五"}); err != nil {
		t.Fatal(err)
	}
	r, err := fx.svc.Report(ctx, fx.base, l.ID)
	if err != nil {
		t.Fatal(err)
	}
	v := r.Compliance.Verdict
	if len(r.Compliance.Handovers) != 2 || !r.Compliance.Handovers[0].InBand || r.Compliance.Handovers[1].InBand ||
		v.Code != trace.HandoverOutOfBand || v.Compliant || v.HandoversOutside != 1 ||
		!strings.Contains(v.ZH, "交接时实测产品温度 1 次超出 0–4 °C（卸载") || !strings.Contains(v.EN, "measured at 1 handover was outside 0–4 °C (unload") {
		t.Errorf("verdict %+v, handovers %+v", v, r.Compliance.Handovers)
	}
}
