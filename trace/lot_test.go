package trace

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/suilong/suilong/internal/errs"
)

func TestNewCode(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		c := NewCode()
		if len(c) != CodeLength || strings.Trim(c, codeAlphabet) != "" {
			t.Fatalf("code %q: want %d characters of %s", c, CodeLength, codeAlphabet)
		}
		if seen[c] {
			t.Fatalf("code %q drawn twice", c)
		}
		seen[c] = true
		if n, ok := NormalizeCode(strings.ToLower(c)); !ok || n != c {
			t.Fatalf("NormalizeCode(lower %q) = %q %v", c, n, ok)
		}
	}
	for _, bad := range []string{"", "SHORT", "ABCDEFGH/", "ABCD EFGH", "<script>x", strings.Repeat("A", 33), "ÄBCDEFGHIJ"} {
		if _, ok := NormalizeCode(bad); ok {
			t.Errorf("NormalizeCode(%q) accepted", bad)
		}
	}
}

func TestNormalizeGTIN(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"06901234567892", "06901234567892", ""},
		{"6901234567892", "06901234567892", ""}, // GTIN-13 padded to 14
		{"96385074", "00000096385074", ""},      // GTIN-8
		{"6901234567893", "", "wrong check digit"},
		{"69012345678", "", "8, 12, 13 or 14 digits"},
		{"690123456789X", "", "digits only"},
	}
	for _, tt := range tests {
		got, err := NormalizeGTIN(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("NormalizeGTIN(%s) err = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeGTIN(%s) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

func TestURIs(t *testing.T) {
	u := NewURIs("https://suilong.example.cn/")
	l := &Lot{Code: "7K3M9QX2PA4T"}
	if got := u.Lot(l); got != "https://suilong.example.cn/t/7K3M9QX2PA4T" {
		t.Errorf("Lot = %s", got)
	}
	l.GTIN = "06901234567892"
	if got := u.Lot(l); got != "https://suilong.example.cn/01/06901234567892/10/7K3M9QX2PA4T" {
		t.Errorf("Lot with GTIN = %s", got)
	}
	if got := u.QR(l.Code, "svg"); got != "https://suilong.example.cn/t/7K3M9QX2PA4T/qr.svg" {
		t.Errorf("QR = %s", got)
	}
}

func TestNewLotValidate(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, CST)
	good := func() NewLot {
		return NewLot{Product: " choy-sum ", Variety: "油青甜菜心", QuantityKg: 5000, BaseName: "上杭县蛟洋镇蔬菜基地", County: "上杭县",
			HarvestedAt: now.Add(-6 * time.Hour), Certifications: []Certification{CertCailanzi, CertGreenFood}, CertificateNo: "FJ-SH-2026-0001"}
	}
	n := good()
	if err := n.Validate(now); err != nil {
		t.Fatal(err)
	}
	if n.Product != "choy-sum" || n.Grade != 1 || !slices.Equal(n.Certifications, []Certification{CertGreenFood, CertCailanzi}) {
		t.Errorf("normalised: %+v", n)
	}
	tests := []struct {
		name   string
		change func(*NewLot)
		fields []string
	}{
		{"nothing", func(n *NewLot) { *n = NewLot{} }, []string{"product", "base_name", "county", "quantity_kg", "harvested_at"}},
		{"future harvest", func(n *NewLot) { n.HarvestedAt = now.Add(time.Hour) }, []string{"harvested_at"}},
		{"ancient harvest", func(n *NewLot) { n.HarvestedAt = now.AddDate(-2, 0, 0) }, []string{"harvested_at"}},
		{"grade and kg", func(n *NewLot) { n.Grade, n.QuantityKg = 6, -1 }, []string{"grade", "quantity_kg"}},
		{"unknown and repeated certification", func(n *NewLot) {
			n.Certifications = []Certification{"organic", "halal", "organic"}
		}, []string{"certifications[1]", "certifications[2]"}},
		{"bad certificate number and GTIN", func(n *NewLot) { n.CertificateNo, n.GTIN = "合格证 1", "6901234567893" }, []string{"certificate_no", "gtin"}},
		{"control characters", func(n *NewLot) { n.BaseName = "基地\x00" }, []string{"base_name"}},
		{"too long", func(n *NewLot) { n.County = strings.Repeat("县", 101) }, []string{"county"}},
		{"order id", func(n *NewLot) { n.OrderID = new(int64) }, []string{"order_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := good()
			tt.change(&n)
			err := n.Validate(now)
			e := errs.As(err)
			if e == nil || e.Code != errs.Unprocessable {
				t.Fatalf("err = %v, want Unprocessable", err)
			}
			var got []string
			for _, f := range e.Fields {
				got = append(got, f.Field)
			}
			if !slices.Equal(got, tt.fields) {
				t.Errorf("fields = %v, want %v (%v)", got, tt.fields, err)
			}
		})
	}
}

func TestNewEventValidate(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, CST)
	tests := []struct {
		n      NewEvent
		fields []string
	}{
		{NewEvent{Kind: Load, At: now, AssetID: "LY-TRK-0001"}, nil},
		{NewEvent{Kind: Receive, At: now, Location: "广州江南果菜批发市场"}, nil},
		{NewEvent{Kind: Load, At: now}, []string{"asset_id"}},
		{NewEvent{Kind: Receive, At: now, AssetID: "LY-TRK-0001"}, []string{"asset_id"}},
		{NewEvent{Kind: Harvest, At: now}, []string{"kind"}},
		{NewEvent{Kind: "teleport"}, []string{"kind", "at"}},
		{NewEvent{Kind: Unload, At: now.Add(time.Hour), AssetID: "X"}, []string{"at"}},
		{NewEvent{Kind: Unload, At: now, AssetID: "X", Note: strings.Repeat("x", 501)}, []string{"note"}},
	}
	for _, tt := range tests {
		err := tt.n.Validate(now)
		var got []string
		if e := errs.As(err); e != nil {
			for _, f := range e.Fields {
				got = append(got, f.Field)
			}
		}
		if !slices.Equal(got, tt.fields) {
			t.Errorf("%+v: fields %v, want %v", tt.n, got, tt.fields)
		}
	}
}
