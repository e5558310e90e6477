package solve

import (
	"math/rand/v2"
	"testing"
)

// randomNetwork builds a network shaped like the matching's: nodes with supply hang on a free disposal arc
// to the root, the others on a capacitated arc to the root, and random arcs go forward between nodes (so no
// cycle of infinite capacity exists).
func randomNetwork(rng *rand.Rand, n int) (*network, []int64) {
	root := int32(n - 1)
	g := newNetwork(n, 4*n, root)
	supply := make([]int64, n)
	tree := make([]int32, n-1)
	for u := range n - 1 {
		if rng.IntN(2) == 0 {
			supply[u] = 1 + rng.Int64N(30)
			tree[u] = g.addArc(int32(u), root, inf, 0)
			supply[root] -= supply[u]
		} else {
			tree[u] = g.addArc(int32(u), root, 1+rng.Int64N(40), -rng.Int64N(50))
		}
	}
	for range 3 * n {
		u, v := rng.IntN(n-1), rng.IntN(n-1)
		if u == v {
			continue
		}
		u, v = min(u, v), max(u, v)
		c := inf
		if rng.IntN(3) == 0 {
			c = 1 + rng.Int64N(20)
		}
		g.addArc(int32(u), int32(v), c, rng.Int64N(41)-20)
	}
	for u := range n - 1 {
		g.hang(int32(u), tree[u], supply[u])
	}
	return g, supply
}

// checkTree verifies the spanning tree structure, the potentials and the flow after a pivot.
func checkTree(t *testing.T, g *network, supply []int64) {
	t.Helper()
	n := len(g.parent)
	// Flow within bounds and conserved.
	net := make([]int64, n)
	for e := range g.src {
		if g.flow[e] < 0 || g.flow[e] > g.capa[e] {
			t.Fatalf("arc %d: flow %d outside [0, %d]", e, g.flow[e], g.capa[e])
		}
		net[g.src[e]] += g.flow[e]
		net[g.dst[e]] -= g.flow[e]
		rc := g.cost[e] + g.pi[g.src[e]] - g.pi[g.dst[e]]
		switch g.state[e] {
		case stateTree:
			if rc != 0 {
				t.Fatalf("tree arc %d has reduced cost %d", e, rc)
			}
		case stateLower:
			if g.flow[e] != 0 {
				t.Fatalf("arc %d at its lower bound carries %d", e, g.flow[e])
			}
		case stateUpper:
			if g.flow[e] != g.capa[e] {
				t.Fatalf("arc %d at its upper bound carries %d of %d", e, g.flow[e], g.capa[e])
			}
		}
	}
	for u := range n {
		if net[u] != supply[u] {
			t.Fatalf("node %d: net outflow %d, supply %d", u, net[u], supply[u])
		}
	}
	// Tree arcs join nodes to their parents; sizes and the preorder thread agree with the parents.
	size := make([]int32, n)
	for u := range n {
		for a := int32(u); a >= 0; a = g.parent[a] {
			size[a]++
		}
		if int32(u) == g.root {
			continue
		}
		e, p := g.pred[u], g.parent[u]
		if g.state[e] != stateTree || !((g.src[e] == int32(u) && g.dst[e] == p && g.dir[u] == dirUp) || (g.dst[e] == int32(u) && g.src[e] == p && g.dir[u] == dirDown)) {
			t.Fatalf("node %d: pred arc %d does not join it to parent %d", u, e, p)
		}
	}
	pos := make([]int, n)
	x := g.root
	for i := range n {
		pos[x] = i
		if g.revThread[g.thread[x]] != x {
			t.Fatalf("revThread of %d's successor is not %d", x, x)
		}
		x = g.thread[x]
		if i < n-1 && x == g.root {
			t.Fatalf("thread returns to the root after %d nodes of %d", i+1, n)
		}
	}
	if x != g.root {
		t.Fatal("thread is not a cycle through every node")
	}
	for u := range n {
		if g.succNum[u] != size[u] {
			t.Fatalf("node %d: succNum %d, subtree has %d", u, g.succNum[u], size[u])
		}
		if pos[g.lastSucc[u]] != pos[u]+int(size[u])-1 {
			t.Fatalf("node %d: lastSucc %d is not the end of its segment", u, g.lastSucc[u])
		}
		if p := g.parent[u]; p >= 0 && (pos[u] <= pos[p] || pos[u] > pos[p]+int(size[p])-1) {
			t.Fatalf("node %d lies outside its parent's segment", u)
		}
	}
}

// TestNetworkSimplexInvariants pivots random networks one step at a time, checking the tree after every
// pivot, and ends with the optimality certificate: no arc prices out.
func TestNetworkSimplexInvariants(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 1))
	for k := range 200 {
		g, supply := randomNetwork(rng, 3+rng.IntN(25))
		g.block = 3 + rng.IntN(8)
		checkTree(t, g, supply)
		for steps := 0; ; steps++ {
			in := g.findEntering()
			if in < 0 {
				break
			}
			if err := g.pivot(in); err != nil {
				t.Fatal(err)
			}
			checkTree(t, g, supply)
			if steps > 100000 {
				t.Fatalf("network %d: no end after %d pivots", k, steps)
			}
		}
		for e := range g.src {
			rc := g.cost[e] + g.pi[g.src[e]] - g.pi[g.dst[e]]
			if int64(g.state[e])*rc < 0 {
				t.Fatalf("network %d: arc %d prices out at the end (rc %d, state %d)", k, e, rc, g.state[e])
			}
		}
	}
}
