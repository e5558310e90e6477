package trace

import (
	"strings"
	"testing"
	"time"

	"github.com/suilong/suilong/internal/errs"
)

// t0 is a harvest morning in Longyan.
var t0 = time.Date(2026, 11, 20, 6, 0, 0, 0, CST)

func at(h, m int) time.Time { return t0.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }

func ev(id int64, k EventKind, t time.Time, asset string) Event {
	e := Event{ID: id, Kind: k, At: t, AssetID: asset}
	if strings.Contains(asset, "CS") {
		e.AssetKind = ColdStore
	} else if asset != "" {
		e.AssetKind = Truck
	}
	return e
}

func TestDeriveCustody(t *testing.T) {
	type leg struct {
		asset    string
		from, to time.Time
		open     bool
	}
	tests := []struct {
		name    string
		events  []Event
		state   State
		legs    []leg
		wantErr string // substring of the Conflict message; "" for success
	}{
		{name: "harvested only", events: []Event{ev(1, Harvest, at(0, 0), "")}, state: AtBase, legs: nil},
		{name: "base → cold store → truck → market",
			events: []Event{
				ev(1, Harvest, at(0, 0), ""),
				ev(2, Load, at(1, 0), "LY-CS-0001"),
				ev(3, Unload, at(10, 0), "LY-CS-0001"),
				ev(4, Load, at(10, 30), "LY-TRK-0001"),
				ev(5, Unload, at(18, 0), "LY-TRK-0001"),
				ev(6, Receive, at(18, 20), ""),
			},
			state: Delivered,
			legs:  []leg{{"LY-CS-0001", at(1, 0), at(10, 0), false}, {"LY-TRK-0001", at(10, 30), at(18, 0), false}}},
		{name: "recorded out of order, sorted by time",
			events: []Event{
				ev(5, Unload, at(18, 0), "LY-TRK-0001"),
				ev(1, Harvest, at(0, 0), ""),
				ev(4, Load, at(10, 30), "LY-TRK-0001"),
			},
			state: Between,
			legs:  []leg{{"LY-TRK-0001", at(10, 30), at(18, 0), false}}},
		{name: "still on the truck: open leg",
			events: []Event{ev(1, Harvest, at(0, 0), ""), ev(2, Load, at(2, 0), "LY-TRK-0002")},
			state:  InAsset,
			legs:   []leg{{"LY-TRK-0002", at(2, 0), time.Time{}, true}}},
		{name: "buyer receives straight off the truck: the receipt ends the leg",
			events: []Event{ev(1, Harvest, at(0, 0), ""), ev(2, Load, at(2, 0), "LY-TRK-0002"), ev(3, Receive, at(9, 0), "")},
			state:  Delivered,
			legs:   []leg{{"LY-TRK-0002", at(2, 0), at(9, 0), false}}},
		{name: "unload and load at the same minute",
			events: []Event{ev(1, Harvest, at(0, 0), ""), ev(2, Load, at(1, 0), "LY-TRK-0001"), ev(3, Unload, at(5, 0), "LY-TRK-0001"),
				ev(4, Load, at(5, 0), "LY-CS-0001")},
			state: InAsset,
			legs:  []leg{{"LY-TRK-0001", at(1, 0), at(5, 0), false}, {"LY-CS-0001", at(5, 0), time.Time{}, true}}},

		{name: "unloading a lot never loaded",
			events:  []Event{ev(1, Harvest, at(0, 0), ""), ev(2, Unload, at(3, 0), "LY-TRK-0001")},
			wantErr: "the lot was never loaded, so it cannot be unloaded from LY-TRK-0001"},
		{name: "unloading from the wrong asset",
			events:  []Event{ev(1, Harvest, at(0, 0), ""), ev(2, Load, at(1, 0), "LY-TRK-0001"), ev(3, Unload, at(3, 0), "LY-TRK-0002")},
			wantErr: "the lot is in LY-TRK-0001 (loaded 2026-11-20 07:00 CST), not in LY-TRK-0002"},
		{name: "unloading twice",
			events: []Event{ev(1, Harvest, at(0, 0), ""), ev(2, Load, at(1, 0), "LY-TRK-0001"), ev(3, Unload, at(3, 0), "LY-TRK-0001"),
				ev(4, Unload, at(4, 0), "LY-TRK-0001")},
			wantErr: "the lot is in no asset (it was unloaded from LY-TRK-0001 at 2026-11-20 09:00 CST)"},
		{name: "a lot in two assets at once",
			events:  []Event{ev(1, Harvest, at(0, 0), ""), ev(2, Load, at(1, 0), "LY-TRK-0001"), ev(3, Load, at(2, 0), "LY-CS-0001")},
			wantErr: "load LY-CS-0001 at 2026-11-20 08:00 CST: the lot is still in LY-TRK-0001 (loaded 2026-11-20 07:00 CST) and cannot be in LY-CS-0001 as well"},
		{name: "a back-dated load inside another leg",
			events: []Event{ev(1, Harvest, at(0, 0), ""), ev(2, Load, at(1, 0), "LY-TRK-0001"), ev(3, Unload, at(5, 0), "LY-TRK-0001"),
				ev(4, Load, at(3, 0), "LY-CS-0001")},
			wantErr: "the lot is still in LY-TRK-0001"},
		{name: "event before harvest",
			events:  []Event{ev(1, Harvest, at(5, 0), ""), ev(2, Load, at(4, 0), "LY-TRK-0001")},
			wantErr: "load LY-TRK-0001 at 2026-11-20 10:00 CST: the lot was harvested later, at 2026-11-20 11:00 CST"},
		{name: "events after the final receipt",
			events: []Event{ev(1, Harvest, at(0, 0), ""), ev(2, Load, at(1, 0), "LY-TRK-0001"), ev(3, Receive, at(8, 0), ""),
				ev(4, Load, at(9, 0), "LY-TRK-0003")},
			wantErr: "the buyer already received the lot at 2026-11-20 14:00 CST; nothing happens to it after that"},
		{name: "received twice",
			events:  []Event{ev(1, Harvest, at(0, 0), ""), ev(2, Receive, at(8, 0), ""), ev(3, Receive, at(9, 0), "")},
			wantErr: "the buyer already received the lot"},
		{name: "second harvest",
			events:  []Event{ev(1, Harvest, at(0, 0), ""), ev(2, Harvest, at(1, 0), "")},
			wantErr: "the lot was already harvested at 2026-11-20 06:00 CST"},
		{name: "no harvest", events: []Event{ev(2, Load, at(1, 0), "LY-TRK-0001")}, wantErr: "the lot has no harvest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := DeriveCustody(tt.events)
			if tt.wantErr != "" {
				if errs.CodeOf(err) != errs.Conflict || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v (%s), want Conflict containing %q", err, errs.CodeOf(err), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.State != tt.state {
				t.Errorf("state = %s, want %s", c.State, tt.state)
			}
			if len(c.Legs) != len(tt.legs) {
				t.Fatalf("legs = %+v, want %d", c.Legs, len(tt.legs))
			}
			for i, w := range tt.legs {
				g := c.Legs[i]
				if g.AssetID != w.asset || !g.From.Equal(w.from) || !g.To.Equal(w.to) || g.Open != w.open {
					t.Errorf("leg %d = %s %s–%s open=%v, want %s %s–%s open=%v", i, g.AssetID, g.From, g.To, g.Open, w.asset, w.from, w.to, w.open)
				}
			}
		})
	}
}

func TestCustodyInAt(t *testing.T) {
	c, err := DeriveCustody([]Event{ev(1, Harvest, at(0, 0), ""), ev(2, Load, at(1, 0), "LY-TRK-0001"), ev(3, Unload, at(5, 0), "LY-TRK-0001"),
		ev(4, Load, at(6, 0), "LY-CS-0001")})
	if err != nil {
		t.Fatal(err)
	}
	now := at(10, 0)
	for _, tt := range []struct {
		t     time.Time
		asset string
	}{{at(0, 30), ""}, {at(1, 0), "LY-TRK-0001"}, {at(4, 59), "LY-TRK-0001"}, {at(5, 0), ""}, {at(6, 0), "LY-CS-0001"}, {at(9, 59), "LY-CS-0001"}, {at(10, 0), ""}} {
		l, ok := c.InAt(tt.t, now)
		if (tt.asset == "") == ok || l.AssetID != tt.asset {
			t.Errorf("InAt(%s) = %q %v, want %q", tt.t.Format("15:04"), l.AssetID, ok, tt.asset)
		}
	}
}

func TestWhy(t *testing.T) {
	tests := []struct {
		k                 EventKind
		a                 AssetKind
		bizStep, dispostn string
	}{
		{Harvest, "", "commissioning", "active"},
		{Load, Truck, "loading", "in_transit"},
		{Unload, Truck, "unloading", "in_progress"},
		{Load, ColdStore, "receiving", "sellable_not_accessible"},
		{Unload, ColdStore, "shipping", "in_transit"},
		{Receive, "", "receiving", "sellable_accessible"},
	}
	for _, tt := range tests {
		if b, d := Why(tt.k, tt.a); b != tt.bizStep || d != tt.dispostn {
			t.Errorf("Why(%s, %s) = %s, %s; want %s, %s", tt.k, tt.a, b, d, tt.bizStep, tt.dispostn)
		}
	}
}
