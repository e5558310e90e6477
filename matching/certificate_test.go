package matching_test

import (
	"slices"
	"testing"
	"time"

	"github.com/suilong/suilong/internal/errs"
	"github.com/suilong/suilong/matching"
	"github.com/suilong/suilong/matching/solve"
)

func day(y int, m time.Month, d int) *matching.Day { v := solve.DayOf(y, m, d); return &v }

func TestCertificateRecordsAndRights(t *testing.T) {
	w := newWorld(t)
	// 2026-11-20 08:00 in China.
	w.s.Now = func() time.Time { return time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC) }
	good := matching.NewCertificate{Number: "GZCLZ-2026-0031", Products: []string{"choy-sum"}, ValidUntil: day(2026, 12, 10)}
	if _, err := w.s.CreateCertificate(ctx, w.baseA, w.baseA.OrgID, good); errs.CodeOf(err) != errs.Forbidden {
		t.Errorf("a base certified itself: %v", err)
	}
	if _, err := w.s.CreateCertificate(ctx, w.staff, w.buyerA.OrgID, good); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("a buyer certified as a base: %v", err)
	}
	_, err := w.s.CreateCertificate(ctx, w.staff, w.baseA.OrgID, matching.NewCertificate{Number: " ",
		Products: []string{"choy-sum", "choy-sum", "durian"}, ValidFrom: day(2027, 1, 1), ValidUntil: day(2026, 1, 1)})
	if want := []string{"number", "products[1]", "valid_until", "products[2]"}; !slices.Equal(fields(err), want) {
		t.Errorf("bad certificate: fields %v, want %v (%v)", fields(err), want, err)
	}
	a, err := w.s.CreateCertificate(ctx, w.staff, w.baseA.OrgID, good)
	if err != nil {
		t.Fatal(err)
	}
	if a.DaysLeft != 20 || !a.ExpiresSoon || a.Expired || a.ValidFrom != nil || a.OrgName != w.baseA.OrgName {
		t.Errorf("certificate: %+v", a)
	}
	if _, err := w.s.CreateCertificate(ctx, w.staff, w.baseA.OrgID, good); errs.CodeOf(err) != errs.Conflict || !slices.Equal(fields(err), []string{"number"}) {
		t.Errorf("the same number twice: %v", err)
	}
	b, err := w.s.CreateCertificate(ctx, w.staff, w.baseB.OrgID, matching.NewCertificate{Number: "B-1", Products: []string{"choy-sum"},
		ValidUntil: day(2026, 11, 19)})
	if err != nil || !b.Expired || b.ExpiresSoon || b.DaysLeft != -1 {
		t.Fatalf("expired certificate: %+v %v", b, err)
	}
	if _, err := w.s.Certificate(ctx, w.baseB, w.baseA.OrgID, a.ID); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("another base read A's certificate: %v", err)
	}
	if _, err := w.s.Certificate(ctx, w.buyerA, w.baseA.OrgID, a.ID); err != nil {
		t.Errorf("a buyer could not read a certificate: %v", err)
	}
	if _, _, err := w.s.Certificates(ctx, w.gate, matching.CertificateFilter{}); errs.CodeOf(err) != errs.Forbidden {
		t.Errorf("a gateway listed certificates: %v", err)
	}
	within := 30
	soon, _, err := w.s.Certificates(ctx, w.staff, matching.CertificateFilter{ExpiringWithin: &within})
	if err != nil || len(soon) != 1 || soon[0].ID != a.ID {
		t.Errorf("expiring within 30 days (the expired one is not): %+v %v", soon, err)
	}
	own, _, err := w.s.Certificates(ctx, w.baseB, matching.CertificateFilter{})
	if err != nil || len(own) != 1 || own[0].ID != b.ID {
		t.Errorf("base B's own list: %+v %v", own, err)
	}
	if _, err := w.s.UpdateCertificate(ctx, w.baseB, w.baseB.OrgID, b.ID, matching.CertificateUpdate{ValidUntil: day(2027, 1, 1)}); errs.CodeOf(err) != errs.Forbidden {
		t.Errorf("a base renewed its own certificate: %v", err)
	}
	b, err = w.s.UpdateCertificate(ctx, w.staff, w.baseB.OrgID, b.ID, matching.CertificateUpdate{ValidUntil: day(2027, 1, 1)})
	if err != nil || b.Expired || b.ExpiresSoon || b.DaysLeft != 42 {
		t.Errorf("renewed: %+v %v", b, err)
	}
	if err := w.s.DeleteCertificate(ctx, w.staff, w.baseA.OrgID, b.ID); errs.CodeOf(err) != errs.NotFound {
		t.Errorf("deleted B's certificate through A's path: %v", err)
	}
	if err := w.s.DeleteCertificate(ctx, w.staff, w.baseB.OrgID, b.ID); err != nil {
		t.Error(err)
	}
}

// A run judges cailanzi-base by the certificates on the demand's delivery day: an offer's own claim does not
// count, an expired certificate stops its pair, and the certified base's offer is matched.
func TestRunAppliesCertificates(t *testing.T) {
	w := newWorld(t)
	claim := []string{"cailanzi-base"}
	oA := w.offer(t, w.baseA, matching.NewOffer{Grade: 1, QuantityKg: 500, MinPricePerKg: fen(300), Origin: "shanghang", Certifications: claim})
	oB := w.offer(t, w.baseB, matching.NewOffer{Grade: 1, QuantityKg: 500, MinPricePerKg: fen(250), Origin: "wuping", Certifications: claim})
	d := w.demand(t, w.buyerA, matching.NewDemand{MinGrade: 1, QuantityKg: 800, MaxPricePerKg: fen(500), Destination: "jiangnan-market",
		RequiredCertifications: claim}) // deliver by 2026-11-21 04:00Z: the 21st in China
	// A's certificate is valid through the delivery day, B's ended the day before.
	if _, err := w.s.CreateCertificate(ctx, w.staff, w.baseA.OrgID, matching.NewCertificate{Number: "A-1", Products: []string{"choy-sum"},
		ValidUntil: day(2026, 11, 21)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.s.CreateCertificate(ctx, w.staff, w.baseB.OrgID, matching.NewCertificate{Number: "B-1", Products: []string{"choy-sum"},
		ValidUntil: day(2026, 11, 20)}); err != nil {
		t.Fatal(err)
	}
	run, err := w.s.StartRun(ctx, w.staff, matching.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Allocations) != 1 || run.Allocations[0].OfferID != oA.ID || run.Allocations[0].QuantityKg != 500 {
		t.Fatalf("allocations %+v", run.Allocations)
	}
	var offerB, demand []string
	for _, u := range run.Unmatched {
		switch {
		case u.Side == "offer" && u.ID == oB.ID:
			offerB = u.ReasonCodes
		case u.Side == "demand" && u.ID == d.ID:
			demand = u.ReasonCodes
		}
	}
	if !slices.Equal(offerB, []string{"certificate_expired"}) || !slices.Contains(demand, "certificate_expired") {
		t.Errorf("reasons: offer B %v, demand %v", offerB, demand)
	}
	if run.Summary.ByReason["certificate_expired"] != 2 { // offer B, and the demand (one partner stopped by it, one at capacity: rule order)
		t.Errorf("summary %+v", run.Summary)
	}
}
