package solve

import (
	"errors"
	"math"
	"sync"
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
	pi     []int64
	// The tree in preorder, as LEMON keeps it: thread is the circular successor list (the root first), so a
	// subtree is the segment from its root to lastSucc; succNum is the subtree's size. Re-hanging a subtree
	// splices segments, and the potential update is one pass along the thread.
	thread, revThread []int32
	succNum, lastSucc []int32
	stem              []stemNode // scratch for rehang

	block   int
	nextArc int
	pivots  int

	hung  bool // hang has set up the flows and states
	mixed mixedArcs
}

// mixedArcs is the arcs in pricing order while the simplex runs (see mix), kept for the next network.
type mixedArcs struct {
	pos, src, dst []int32
	capa, cost    []int64
	flow          []int64
	state         []int8
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
	g := &network{}
	g.reset(nodes, arcsHint, root)
	return g
}

// networks keeps networks for reuse: a worker solving product after product then reuses the memory of the
// last one instead of asking the system for fresh pages each time.
var networks = sync.Pool{New: func() any { return new(network) }}

// reset readies g for a new network, keeping the memory it has.
func (g *network) reset(nodes, arcsHint int, root int32) {
	g.src, g.dst = reserve(g.src, arcsHint), reserve(g.dst, arcsHint)
	g.capa, g.cost = reserve(g.capa, arcsHint), reserve(g.cost, arcsHint)
	g.flow, g.state = g.flow[:0], g.state[:0]
	g.hung = false
	g.root = root
	g.parent, g.pred, g.dir, g.pi = resize(g.parent, nodes), resize(g.pred, nodes), resize(g.dir, nodes), resize(g.pi, nodes)
	g.thread, g.revThread = resize(g.thread, nodes), resize(g.revThread, nodes)
	g.succNum, g.lastSucc = resize(g.succNum, nodes), resize(g.lastSucc, nodes)
	clear(g.dir)
	clear(g.pi)
	for i := range nodes {
		g.parent[i], g.pred[i] = -1, -1
		g.thread[i], g.revThread[i] = int32(i), int32(i)
		g.succNum[i], g.lastSucc[i] = 1, int32(i)
	}
	g.block, g.nextArc, g.pivots = 0, 0, 0
}

// reserve returns s emptied, with room for n.
func reserve[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, 0, n)
	}
	return s[:0]
}

// resize returns s with length n, its old contents (or zeros) in place.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
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
	if !g.hung {
		g.hung = true
		g.flow = resize(g.flow, len(g.src))
		g.state = resize(g.state, len(g.src))
		clear(g.flow)
		for i := range g.state {
			g.state[i] = stateLower
		}
	}
	g.flow[e] = flow
	g.state[e] = stateTree
	g.parent[u] = g.root
	g.pred[u] = e
	if g.src[e] == u {
		g.dir[u] = dirUp
		g.pi[u] = -g.cost[e]
	} else {
		g.dir[u] = dirDown
		g.pi[u] = g.cost[e]
	}
	// u becomes the root's last child: last in the preorder.
	r := g.root
	last := g.lastSucc[r]
	g.thread[last], g.revThread[u] = u, last
	g.thread[u], g.revThread[r] = r, u
	g.lastSucc[r] = u
	g.succNum[r]++
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
	restore := g.mix()
	defer restore()
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

// mix stores the arcs in the order LEMON's NetworkSimplex calls arc mixing: arc k of the caller's order
// goes to position (k mod s)·… , every s-th position, s = max(arcs/nodes, 3), so that a pricing block of
// consecutive positions samples arcs from all over the network rather than the arcs of a few offers.
// With it the block search needs about half the pivots on the matching networks. The returned function
// puts everything back in the caller's order.
func (g *network) mix() (restore func()) {
	m := len(g.src)
	skip := max(m/len(g.parent), 3)
	x := &g.mixed
	x.pos = resize(x.pos, m) // pos[arc] = its position
	for k, i, j := 0, 0, 0; k < m; k++ {
		x.pos[k] = int32(i)
		if i += skip; i >= m {
			j++
			i = j
		}
	}
	pos := x.pos
	src, dst, capa, cost, flow, state := g.src, g.dst, g.capa, g.cost, g.flow, g.state
	g.src, g.dst = resize(x.src, m), resize(x.dst, m)
	g.capa, g.cost, g.flow = resize(x.capa, m), resize(x.cost, m), resize(x.flow, m)
	g.state = resize(x.state, m)
	for k, p := range pos {
		g.src[p], g.dst[p], g.capa[p], g.cost[p], g.flow[p], g.state[p] = src[k], dst[k], capa[k], cost[k], flow[k], state[k]
	}
	for u, e := range g.pred {
		if e >= 0 {
			g.pred[u] = pos[e]
		}
	}
	return func() {
		for k, p := range pos {
			flow[k], state[k] = g.flow[p], g.state[p]
		}
		// The tree arcs' numbers go back to the caller's: the position's arc is the one whose pos it is.
		back := g.src // no longer needed as arcs: reused as the inverse of pos
		for k, p := range pos {
			back[p] = int32(k)
		}
		for u, e := range g.pred {
			if e >= 0 {
				g.pred[u] = back[e]
			}
		}
		*x = mixedArcs{pos: pos, src: g.src, dst: g.dst, capa: g.capa, cost: g.cost, flow: g.flow, state: g.state}
		g.src, g.dst, g.capa, g.cost, g.flow, g.state = src, dst, capa, cost, flow, state
	}
}

func (g *network) findEntering() int32 {
	m := len(g.src)
	src, dst, cost, state, pi := g.src[:m], g.dst[:m], g.cost[:m], g.state[:m], g.pi
	var best int64
	in := int32(-1)
	left := g.block // arcs left in the current block
	// From where the last search stopped to the end, then from the start back to it, a block at a time (a
	// block may run on across the wrap). A tree arc's state is 0, so it prices at 0 and never enters; no
	// branch is needed to skip it.
	lo, hi := g.nextArc, m
	for range 2 {
		for e := lo; e < hi; {
			n := min(left, hi-e)
			for end := e + n; e < end; e++ {
				c := int64(state[e]) * (cost[e] + pi[src[e]] - pi[dst[e]])
				if c < best {
					best, in = c, int32(e)
				}
			}
			if left -= n; left > 0 {
				break // the range ended inside the block, which goes on in the next range
			}
			if in >= 0 {
				if e == m {
					e = 0
				}
				g.nextArc = e
				return in
			}
			left = g.block
		}
		lo, hi = 0, g.nextArc
	}
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
	g.rehang(in, uIn, vIn, uOut, join)
	return nil
}

// join returns the nearest common ancestor of u and v. An ancestor's subtree is strictly larger, so the
// node with the smaller subtree (either, on a tie) cannot be the ancestor and moves up.
func (g *network) join(u, v int32) int32 {
	for u != v {
		if g.succNum[u] < g.succNum[v] {
			u = g.parent[u]
		} else {
			v = g.parent[v]
		}
	}
	return u
}

// stemNode is a node on the path from uIn up to uOut, with what rehang needs of the tree before it changes.
type stemNode struct {
	node     int32
	lastSucc int32 // the end of its subtree's segment
	succNum  int32
	before   int32 // for all but the first: the node before the previous stem node in the thread
	after    int32 // for all but the first: the node after the previous stem node's segment
}

// rehang cuts the subtree under uOut's tree arc and hangs it from vIn by the entering arc, which joins it
// at uIn. The stem uIn … uOut reverses its parent links. In the thread, the subtree's new preorder is: the
// segment of uIn, then for each next stem node s, s with its old segment minus the previous stem node's; it
// is spliced in right after vIn. Only stem nodes and ancestors of vOut and vIn change size or segment end.
func (g *network) rehang(in, uIn, vIn, uOut, join int32) {
	thread, rev, last, succ, parent := g.thread, g.revThread, g.lastSucc, g.succNum, g.parent
	vOut := parent[uOut]
	stem := g.stem[:0]
	for x := uIn; ; x = parent[x] {
		sn := stemNode{node: x, lastSucc: last[x], succNum: succ[x]}
		if len(stem) > 0 {
			prev := stem[len(stem)-1]
			sn.before = rev[prev.node]
			sn.after = thread[prev.lastSucc]
		}
		stem = append(stem, sn)
		if x == uOut {
			break
		}
	}
	g.stem = stem
	k := len(stem) - 1
	size := stem[k].succNum
	endT := stem[k].lastSucc
	beforeT, afterT := rev[uOut], thread[endT]

	// Take the subtree out of the thread, and end the segments that ended with it one node earlier.
	thread[beforeT], rev[afterT] = afterT, beforeT
	for a := vOut; a >= 0 && last[a] == endT; a = parent[a] {
		last[a] = beforeT
	}

	// Chain the pieces of the new preorder; end is the last node linked so far.
	end := stem[0].lastSucc
	link := func(from, to int32) { thread[from], rev[to] = to, from }
	for t := 1; t <= k; t++ {
		s := stem[t]
		link(end, s.node)
		end = s.before
		if s.lastSucc != stem[t-1].lastSucc {
			link(end, s.after)
			end = s.lastSucc
		}
	}
	// Splice it in after vIn; segments that ended at vIn now end with it.
	next := thread[vIn]
	link(vIn, uIn)
	link(end, next)
	for a := vIn; a >= 0 && last[a] == vIn; a = parent[a] {
		last[a] = end
	}

	// Sizes: along the stem each node keeps its old subtree minus the previous stem node's, plus the next's;
	// ancestors of vOut lose the subtree and those of vIn gain it, below their common ancestor.
	var carry int32
	for t := k; t >= 0; t-- {
		own := stem[t].succNum
		if t > 0 {
			own -= stem[t-1].succNum
		}
		carry += own
		succ[stem[t].node] = carry
		last[stem[t].node] = end
	}
	for a := vOut; a != join; a = parent[a] {
		succ[a] -= size
	}
	for a := vIn; a != join; a = parent[a] {
		succ[a] += size
	}

	// Reverse the stem's parent links.
	newParent, newPred := vIn, in
	newDir := dirDown
	if g.src[in] == uIn {
		newDir = dirUp
	}
	for t := 0; t <= k; t++ {
		x := stem[t].node
		oldPred, oldDir := g.pred[x], g.dir[x]
		parent[x], g.pred[x], g.dir[x] = newParent, newPred, newDir
		newParent, newPred, newDir = x, oldPred, -oldDir
	}

	// Every node of the moved subtree shifts its potential by the same amount: the arcs inside it are
	// unchanged, and the entering arc must price at zero.
	sigma := g.pi[vIn] - g.pi[uIn] - int64(g.dir[uIn])*g.cost[in]
	pi := g.pi
	for x := uIn; ; x = thread[x] {
		pi[x] += sigma
		if x == end {
			break
		}
	}
}
