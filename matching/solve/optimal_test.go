package solve

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize/convex/lp"

	"github.com/suilong/suilong/internal/errs"
)

// lpOptimum solves the transportation LP of in with gonum's simplex, independently of this package's
// network: one variable per usable pair (found with Feasible), a slack per offer and per demand. The
// constraint matrix is totally unimodular, so the LP optimum is the integer optimum.
func lpOptimum(t *testing.T, in *Instance) Fen {
	t.Helper()
	products := map[string]Product{}
	for _, p := range in.Products {
		products[p.Name] = p
	}
	lanes := map[[2]string]*Lane{}
	for i := range in.Lanes {
		l := &in.Lanes[i]
		lanes[[2]string{l.Origin, l.Destination}] = l
	}
	type pair struct {
		i, j    int
		surplus Fen
	}
	var pairs []pair
	for i, o := range in.Offers {
		for j, d := range in.Demands {
			if o.Product != d.Product {
				continue
			}
			s, why := FeasibleUnder(in.BaseCertificates, products[o.Product], lanes[[2]string{o.Origin, d.Destination}], o, d)
			if len(why) == 0 {
				pairs = append(pairs, pair{i, j, s})
			}
		}
	}
	if len(pairs) == 0 {
		return 0
	}
	no, nd := len(in.Offers), len(in.Demands)
	rows, cols := no+nd, len(pairs)+no+nd
	A := mat.NewDense(rows, cols, nil)
	c := make([]float64, cols)
	b := make([]float64, rows)
	for k, p := range pairs {
		A.Set(p.i, k, 1)
		A.Set(no+p.j, k, 1)
		c[k] = -float64(p.surplus)
	}
	basic := make([]int, rows)
	for r := range rows {
		A.Set(r, len(pairs)+r, 1)
		basic[r] = len(pairs) + r
	}
	for i, o := range in.Offers {
		b[i] = float64(o.QuantityKg)
	}
	for j, d := range in.Demands {
		b[no+j] = float64(d.QuantityKg)
	}
	opt, _, err := lp.Simplex(c, A, b, 1e-9, basic)
	if err != nil {
		t.Fatalf("gonum simplex: %v", err)
	}
	return Fen(math.Round(-opt))
}

// checkResult verifies what any allocation must satisfy: every pair usable under the rules with the right
// surplus, capacities respected, the objective the sum of the pairs, unmatched quantities right, and no
// usable pair left with kg on both sides (what makes "capacity" true).
func checkResult(t *testing.T, in *Instance, r *Result) {
	t.Helper()
	products := map[string]Product{}
	for _, p := range in.Products {
		products[p.Name] = p
	}
	lanes := map[[2]string]*Lane{}
	for i := range in.Lanes {
		lanes[[2]string{in.Lanes[i].Origin, in.Lanes[i].Destination}] = &in.Lanes[i]
	}
	offers, demands := map[string]Offer{}, map[string]Demand{}
	for _, o := range in.Offers {
		offers[o.ID] = o
	}
	for _, d := range in.Demands {
		demands[d.ID] = d
	}
	usedO, usedD := map[string]int64{}, map[string]int64{}
	var total Fen
	seen := map[[2]string]bool{}
	for _, a := range r.Allocations {
		o, d := offers[a.OfferID], demands[a.DemandID]
		if seen[[2]string{a.OfferID, a.DemandID}] {
			t.Errorf("pair %s → %s allocated twice", a.OfferID, a.DemandID)
		}
		seen[[2]string{a.OfferID, a.DemandID}] = true
		s, why := FeasibleUnder(in.BaseCertificates, products[o.Product], lanes[[2]string{o.Origin, d.Destination}], o, d)
		if len(why) != 0 || s != a.SurplusPerKg || a.QuantityKg <= 0 {
			t.Errorf("allocation %+v: surplus %s, reasons %v", a, s, why)
		}
		usedO[a.OfferID] += a.QuantityKg
		usedD[a.DemandID] += a.QuantityKg
		total += Fen(a.QuantityKg) * a.SurplusPerKg
	}
	if total != r.Objective {
		t.Errorf("objective %s, pairs sum to %s", r.Objective, total)
	}
	left := map[[2]string]int64{}
	zero := map[[2]string]bool{} // records of 0 kg: listed with 0 kg left and the one reason no_quantity
	for _, o := range in.Offers {
		if usedO[o.ID] > o.QuantityKg {
			t.Errorf("offer %s: %d kg allocated of %d", o.ID, usedO[o.ID], o.QuantityKg)
		}
		if l := o.QuantityKg - usedO[o.ID]; l > 0 {
			left[[2]string{SideOffer, o.ID}] = l
		}
		if o.QuantityKg == 0 {
			zero[[2]string{SideOffer, o.ID}] = true
		}
	}
	for _, d := range in.Demands {
		if usedD[d.ID] > d.QuantityKg {
			t.Errorf("demand %s: %d kg allocated of %d", d.ID, usedD[d.ID], d.QuantityKg)
		}
		if l := d.QuantityKg - usedD[d.ID]; l > 0 {
			left[[2]string{SideDemand, d.ID}] = l
		}
		if d.QuantityKg == 0 {
			zero[[2]string{SideDemand, d.ID}] = true
		}
	}
	if len(r.Unmatched) != len(left)+len(zero) {
		t.Errorf("%d unmatched records listed, %d have kg left and %d have none", len(r.Unmatched), len(left), len(zero))
	}
	for _, u := range r.Unmatched {
		if zero[[2]string{u.Side, u.ID}] {
			if u.QuantityKg != 0 || len(u.Reasons) != 1 || u.Reasons[0].Code != ReasonNoQuantity {
				t.Errorf("unmatched %s %s of 0 kg: %d kg, reasons %v; want the one reason no_quantity", u.Side, u.ID, u.QuantityKg, u.Reasons)
			}
			continue
		}
		if left[[2]string{u.Side, u.ID}] != u.QuantityKg || len(u.Reasons) == 0 {
			t.Errorf("unmatched %s %s: %d kg left listed, %d actually; reasons %v", u.Side, u.ID, u.QuantityKg, left[[2]string{u.Side, u.ID}], u.Reasons)
		}
	}
	for _, o := range in.Offers {
		for _, d := range in.Demands {
			if o.Product != d.Product || left[[2]string{SideOffer, o.ID}] == 0 || left[[2]string{SideDemand, d.ID}] == 0 {
				continue
			}
			if _, why := FeasibleUnder(in.BaseCertificates, products[o.Product], lanes[[2]string{o.Origin, d.Destination}], o, d); len(why) == 0 {
				t.Errorf("usable pair %s → %s left with kg on both sides", o.ID, d.ID)
			}
		}
	}
}

func encode(t *testing.T, r *Result) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := EncodeResult(&b, r); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestOptimalOnRandomInstances compares Solve with an independent LP on hundreds of small instances,
// with Greedy as a floor, and checks determinism under a second solve and a shuffled input.
func TestOptimalOnRandomInstances(t *testing.T) {
	configs := []genConfig{
		{Offers: 6, Demands: 6, Products: 1, Origins: 2, Dests: 2, LaneShare: 0.75, MinKg: 1, MaxKg: 40, Coarse: true},
		{Offers: 8, Demands: 5, Products: 2, Origins: 3, Dests: 2, LaneShare: 0.7, MinKg: 10, MaxKg: 90, Coarse: true},
		{Offers: 5, Demands: 9, Products: 1, Origins: 2, Dests: 3, LaneShare: 0.8, MinKg: 5, MaxKg: 60, Coarse: true},
		{Offers: 10, Demands: 10, Products: 2, Origins: 3, Dests: 3, LaneShare: 0.8, MinKg: 100, MaxKg: 5000},
		{Offers: 8, Demands: 8, Products: 2, Origins: 2, Dests: 2, LaneShare: 0.9, MinKg: 1, MaxKg: 60, Coarse: true, Scheme: true},
		{Offers: 12, Demands: 10, Products: 1, Origins: 3, Dests: 3, LaneShare: 0.9, MinKg: 100, MaxKg: 5000, Scheme: true},
	}
	cases, strictlyBetter := 0, 0
	for ci, cfg := range configs {
		for seed := range uint64(100) {
			in := genInstance(seed*31+uint64(ci), cfg)
			r, err := Solve(in)
			if err != nil {
				t.Fatalf("config %d seed %d: %v", ci, seed, err)
			}
			checkResult(t, in, r)
			want := lpOptimum(t, in)
			if r.Objective != want {
				t.Fatalf("config %d seed %d: objective %s, LP optimum %s", ci, seed, r.Objective, want)
			}
			g := Greedy(in)
			checkResult(t, in, g)
			if g.Objective > r.Objective {
				t.Fatalf("config %d seed %d: greedy %s beats the optimum %s", ci, seed, g.Objective, r.Objective)
			}
			if g.Objective < r.Objective {
				strictlyBetter++
			}
			first := encode(t, r)
			again, err := Solve(in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first, encode(t, again)) {
				t.Fatalf("config %d seed %d: a second solve differs", ci, seed)
			}
			sh, err := Solve(shuffled(in, seed))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first, encode(t, sh)) {
				t.Fatalf("config %d seed %d: a shuffled copy gives another result\n%s\n---\n%s", ci, seed, first, encode(t, sh))
			}
			cases++
		}
	}
	// The instances must be hard enough that greedy is sometimes wrong, or the comparison proves little.
	if strictlyBetter < cases/20 {
		t.Errorf("the optimum beat greedy on only %d of %d instances", strictlyBetter, cases)
	}
	t.Logf("%d instances; the optimum beat greedy on %d", cases, strictlyBetter)
}

// TestOptimalMedium checks longer chains and more classes than the small instances have, against the LP.
func TestOptimalMedium(t *testing.T) {
	cfg := genConfig{Offers: 40, Demands: 40, Products: 1, Origins: 3, Dests: 2, LaneShare: 1, MinKg: 100, MaxKg: 3000}
	for seed := range uint64(12) {
		in := genInstance(1000+seed, cfg)
		r, err := Solve(in)
		if err != nil {
			t.Fatal(err)
		}
		checkResult(t, in, r)
		if want := lpOptimum(t, in); r.Objective != want {
			t.Fatalf("seed %d: objective %s, LP optimum %s", seed, r.Objective, want)
		}
	}
}

// TestMarshalIsTheBatchFormat: json.Marshal of a Result (as an API would) gives the document EncodeResult writes.
func TestMarshalIsTheBatchFormat(t *testing.T) {
	in := genInstance(5, genConfig{Offers: 10, Demands: 10, Products: 2, Origins: 2, Dests: 2, LaneShare: 0.8, MinKg: 10, MaxKg: 100})
	r, err := Solve(in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var x, y any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(encode(t, r), &y); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(x, y) {
		t.Errorf("json.Marshal differs from EncodeResult:\n%s", b)
	}
	if Greedy(&Instance{Offers: []Offer{{ID: "o1"}}}) != nil {
		t.Error("Greedy accepted an invalid instance")
	}
}

// TestManyPlaces: every offer from its own county and every demand to its own market (far more places than
// a dense lane matrix should hold) still solves, to the LP optimum.
func TestManyPlaces(t *testing.T) {
	in := genInstance(77, genConfig{Offers: 30, Demands: 30, Products: 1, Origins: 3, Dests: 3, LaneShare: 1, MinKg: 10, MaxKg: 500})
	old := denseLanesLimit
	denseLanesLimit = 4 // force the map on this small instance
	defer func() { denseLanesLimit = old }()
	r, err := Solve(in)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, in, r)
	if want := lpOptimum(t, in); r.Objective != want || want == 0 {
		t.Errorf("objective %s, LP optimum %s", r.Objective, want)
	}
}

// TestTooLarge: a product whose network would exceed maxArcs is refused with a clear, classified error.
func TestTooLarge(t *testing.T) {
	in := genInstance(8, genConfig{Offers: 50, Demands: 50, Products: 1, Origins: 2, Dests: 2, LaneShare: 1, MinKg: 10, MaxKg: 500})
	old := maxArcs
	maxArcs = 20
	defer func() { maxArcs = old }()
	_, err := Solve(in)
	if errs.CodeOf(err) != errs.Unprocessable || !strings.Contains(err.Error(), "product product-00 is too large for one run") {
		t.Errorf("err = %v", err)
	}
}

// TestLargeProductDeterministic covers what only large instances do (products solved in parallel, the two
// sides of a large product explained in parallel): the result is still consistent and byte-identical on a
// shuffled copy.
func TestLargeProductDeterministic(t *testing.T) {
	in := genInstance(21, genConfig{Offers: 400, Demands: 300, Products: 3, Origins: 7, Dests: 12, LaneShare: 0.9, MinKg: 200, MaxKg: 5000})
	in.Offers = append(in.Offers, genInstance(22, genConfig{Offers: 700, Demands: 1, Products: 1, Origins: 7, Dests: 12, LaneShare: 1, MinKg: 200, MaxKg: 5000}).Offers...)
	for i := 400; i < len(in.Offers); i++ {
		in.Offers[i].ID = fmt.Sprintf("x%05d", i)
		in.Offers[i].Product = in.Products[0].Name // one product with 800 offers × 100 demands
	}
	r, err := Solve(in)
	if err != nil {
		t.Fatal(err)
	}
	checkResult(t, in, r)
	if g := Greedy(in); g.Objective > r.Objective {
		t.Errorf("greedy %s beats the optimum %s", g.Objective, r.Objective)
	}
	sh, err := Solve(shuffled(in, 5))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encode(t, r), encode(t, sh)) {
		t.Error("a shuffled copy gives another result")
	}
}

// TestZeroQuantity: records of 0 kg (DESIGN.md: valid, listed unmatched with no_quantity) change nothing
// else: the allocations and every other record's explanation are those of the instance without them, and
// the optimum is still the LP's.
func TestZeroQuantity(t *testing.T) {
	for seed := range uint64(40) {
		in := genInstance(seed, genConfig{Offers: 12, Demands: 12, Products: 2, Origins: 3, Dests: 3, LaneShare: 0.8, MinKg: 1, MaxKg: 90, Coarse: seed%2 == 0})
		without := &Instance{Products: in.Products, Lanes: in.Lanes}
		zeros := 0
		for i := range in.Offers {
			if i%5 == int(seed%5) {
				in.Offers[i].QuantityKg = 0
				zeros++
			} else {
				without.Offers = append(without.Offers, in.Offers[i])
			}
		}
		for j := range in.Demands {
			if j%4 == int(seed%4) {
				in.Demands[j].QuantityKg = 0
				zeros++
			} else {
				without.Demands = append(without.Demands, in.Demands[j])
			}
		}
		r, err := Solve(in)
		if err != nil {
			t.Fatal(err)
		}
		checkResult(t, in, r)
		if want := lpOptimum(t, in); r.Objective != want {
			t.Fatalf("seed %d: objective %s, LP optimum %s", seed, r.Objective, want)
		}
		base, err := Solve(without)
		if err != nil {
			t.Fatal(err)
		}
		var rest []Unmatched
		for _, u := range r.Unmatched {
			if len(u.Reasons) == 1 && u.Reasons[0].Code == ReasonNoQuantity {
				zeros--
				continue
			}
			rest = append(rest, u)
		}
		if zeros != 0 || !reflect.DeepEqual(r.Allocations, base.Allocations) || !reflect.DeepEqual(rest, base.Unmatched) {
			t.Fatalf("seed %d: the 0 kg records changed the result (%d not listed as no_quantity)", seed, zeros)
		}
		if r.Summary.Offers != len(in.Offers) || r.Summary.UnmatchedByReason[ReasonNoQuantity] == 0 {
			t.Errorf("seed %d: summary %+v", seed, r.Summary)
		}
	}
}
