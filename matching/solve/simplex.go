package solve

import (
	"errors"
	"math"
)

// network is a min-cost flow problem solved by the primal network simplex method, with a strongly
// feasible spanning tree (Cunningham's leaving-arc rule, so degenerate pivots cannot cycle) and block
// search pricing (as in LEMON's NetworkSimplex: scan blocks of about √m arcs from where the last search
// stopped, enter the most negative arc of the first block that has one).
//
// The caller supplies the initial tree: every node but the root is joined to the root by one of its own
// arcs, with that arc's initial flow. The matching network has such a tree for free (each offer's
// disposal arc carries its supply; each demand's arc to the sink carries nothing), so no artificial arcs
// or big-M costs are needed and every number stays far inside int64.
//
// Potentials follow pi[head] = pi[tail] + cost on tree arcs; an arc's reduced cost is
// cost + pi[tail] − pi[head], and an arc at its lower (upper) bound may enter when that is negative (positive).
type network struct {
	src, dst []int32
	capa     []int64
	cost     []int64
	flow     []int64
	state    []int8 // stateLower, stateUpper or stateTree

	root   int32
	parent []int32
	pred   []int32 // the tree arc joining a node to its parent
	dir    []int8  // dirUp: pred goes node → parent; dirDown: parent → node
	depth  []int32
	pi     []int64
	// Children as doubly linked sibling lists, to re-hang subtrees in O(1) and walk them for updates.
	child, next, prev []int32

	block   int
	nextArc int
	pivots  int
}

const (
	stateUpper int8 = -1
	stateTree  int8 = 0
	stateLower int8 = 1
	dirUp      int8 = 1
	dirDown    int8 = -1
	// inf is the capacity of uncapacitated arcs: far above any flow (at most MaxTotalKg), far from overflow.
	inf int64 = math.MaxInt64 / 4
)

func newNetwork(nodes, arcsHint int, root int32) *network {
	g := &network{
		src: make([]int32, 0, arcsHint), dst: make([]int32, 0, arcsHint),
		capa: make([]int64, 0, arcsHint), cost: make([]int64, 0, arcsHint),
		root:   root,
		parent: make([]int32, nodes), pred: make([]int32, nodes), dir: make([]int8, nodes),
		depth: make([]int32, nodes), pi: make([]int64, nodes),
		child: make([]int32, nodes), next: make([]int32, nodes), prev: make([]int32, nodes),
	}
	for i := range nodes {
		g.parent[i], g.pred[i], g.child[i], g.next[i], g.prev[i] = -1, -1, -1, -1, -1
	}
	return g
}

func (g *network) addArc(u, v int32, capa, cost int64) int32 {
	g.src = append(g.src, u)
	g.dst = append(g.dst, v)
	g.capa = append(g.capa, capa)
	g.cost = append(g.cost, cost)
	return int32(len(g.src) - 1)
}

// hang makes arc e, which joins node u to the root, u's tree arc, carrying flow.
func (g *network) hang(u, e int32, flow int64) {
	if g.flow == nil {
		g.flow = make([]int64, len(g.src))
		g.state = make([]int8, len(g.src))
		for i := range g.state {
			g.state[i] = stateLower
		}
	}
	g.flow[e] = flow
	g.state[e] = stateTree
	g.parent[u] = g.root
	g.pred[u] = e
	g.depth[u] = 1
	if g.src[e] == u {
		g.dir[u] = dirUp
		g.pi[u] = -g.cost[e]
	} else {
		g.dir[u] = dirDown
		g.pi[u] = g.cost[e]
	}
	g.addChild(g.root, u)
}

func (g *network) addChild(p, c int32) {
	h := g.child[p]
	g.next[c] = h
	g.prev[c] = -1
	if h >= 0 {
		g.prev[h] = c
	}
	g.child[p] = c
}

func (g *network) removeChild(p, c int32) {
	if g.prev[c] >= 0 {
		g.next[g.prev[c]] = g.next[c]
	} else {
		g.child[p] = g.next[c]
	}
	if g.next[c] >= 0 {
		g.prev[g.next[c]] = g.prev[c]
	}
	g.next[c], g.prev[c] = -1, -1
}

var errUnbounded = errors.New("network simplex: unbounded (a negative cycle of infinite capacity)")

// solve pivots until no arc prices out; the flow is then optimal. It needs hang to have been called for
// every node but the root.
func (g *network) solve() error {
	m := len(g.src)
	if m == 0 {
		return nil
	}
	g.block = max(int(math.Sqrt(float64(m))), 10)
	for {
		in := g.findEntering()
		if in < 0 {
			return nil
		}
		if err := g.pivot(in); err != nil {
			return err
		}
		g.pivots++
	}
}

func (g *network) findEntering() int32 {
	m := len(g.src)
	var best int64
	in := int32(-1)
	cnt := g.block
	e := g.nextArc
	src, dst, cost, state, pi := g.src, g.dst, g.cost, g.state, g.pi
	for range m {
		if s := state[e]; s != stateTree {
			c := int64(s) * (cost[e] + pi[src[e]] - pi[dst[e]])
			if c < best {
				best, in = c, int32(e)
			}
		}
		e++
		if e == m {
			e = 0
		}
		cnt--
		if cnt == 0 {
			if in >= 0 {
				break
			}
			cnt = g.block
		}
	}
	g.nextArc = e
	return in
}

// pivot brings arc in into the tree (or moves it to its other bound) and pushes the most flow the cycle
// allows.
func (g *network) pivot(in int32) error {
	parent, pred, dir, flow, capa := g.parent, g.pred, g.dir, g.flow, g.capa
	u, v := g.src[in], g.dst[in]
	join := g.join(u, v)

	// The cycle's orientation follows the flow change: along in from first to second.
	first, second := u, v
	if g.state[in] == stateUpper {
		first, second = v, u
	}
	delta := capa[in]
	uOut := int32(-1)
	side := 0
	// Cunningham's rule: of the blocking arcs, leave the last one met when walking the cycle in its
	// orientation from the join node; strict < on the first path and <= on the second achieve that.
	for x := first; x != join; x = parent[x] {
		e := pred[x]
		d := flow[e]
		if dir[x] == dirDown {
			d = capa[e] - flow[e]
		}
		if d < delta {
			delta, uOut, side = d, x, 1
		}
	}
	for x := second; x != join; x = parent[x] {
		e := pred[x]
		d := flow[e]
		if dir[x] == dirUp {
			d = capa[e] - flow[e]
		}
		if d <= delta {
			delta, uOut, side = d, x, 2
		}
	}
	if delta >= inf/2 {
		return errUnbounded
	}
	if delta > 0 {
		val := int64(g.state[in]) * delta
		flow[in] += val
		for x := u; x != join; x = parent[x] {
			flow[pred[x]] -= int64(dir[x]) * val
		}
		for x := v; x != join; x = parent[x] {
			flow[pred[x]] += int64(dir[x]) * val
		}
	}
	if side == 0 {
		// The entering arc itself blocks: it only changes bound, the tree stays.
		g.state[in] = -g.state[in]
		return nil
	}
	uIn, vIn := first, second
	if side == 2 {
		uIn, vIn = second, first
	}
	out := pred[uOut]
	g.state[in] = stateTree
	if flow[out] == 0 {
		g.state[out] = stateLower
	} else {
		g.state[out] = stateUpper
	}
	g.rehang(in, uIn, vIn, uOut)
	return nil
}

// join returns the nearest common ancestor of u and v.
func (g *network) join(u, v int32) int32 {
	for u != v {
		du, dv := g.depth[u], g.depth[v]
		if du >= dv {
			u = g.parent[u]
		}
		if dv >= du {
			v = g.parent[v]
		}
	}
	return u
}

// rehang cuts the subtree under uOut's tree arc and hangs it from vIn by the entering arc, which joins
// it at uIn: the path uIn … uOut (the stem) reverses its parent links, then the moved subtree's depths and
// potentials are updated.
func (g *network) rehang(in, uIn, vIn, uOut int32) {
	x := uIn
	newParent, newPred := vIn, in
	newDir := dirDown
	if g.src[in] == uIn {
		newDir = dirUp
	}
	for {
		oldParent, oldPred, oldDir := g.parent[x], g.pred[x], g.dir[x]
		g.removeChild(oldParent, x)
		g.parent[x], g.pred[x], g.dir[x] = newParent, newPred, newDir
		g.addChild(newParent, x)
		if x == uOut {
			break
		}
		newParent, newPred, newDir = x, oldPred, -oldDir
		x = oldParent
	}
	// Every node of the moved subtree shifts its potential by the same amount (the arcs inside it are
	// unchanged); depths change along the stem, so they are recomputed from the new parents.
	sigma := g.pi[vIn] - g.pi[uIn] - int64(g.dir[uIn])*g.cost[in]
	depth, pi, parent, child, next := g.depth, g.pi, g.parent, g.child, g.next
	depth[uIn] = depth[vIn] + 1
	pi[uIn] += sigma
	n := uIn
	for {
		if c := child[n]; c >= 0 {
			n = c
		} else {
			for n != uIn && next[n] < 0 {
				n = parent[n]
			}
			if n == uIn {
				return
			}
			n = next[n]
		}
		depth[n] = depth[parent[n]] + 1
		pi[n] += sigma
	}
}
