// Package solve is the exact optimiser of the 菜篮子 matching: it assigns integer kilograms of offers to
// demands so that the total surplus (in fen, exact) is maximal, under DESIGN.md's rules, and explains in
// Chinese and English why every offer and demand left (partly) unmatched was left.
//
// The package is pure: no database, no clock in the rules, no randomness. The same instance, in any
// record order, gives the same result. docs/matching-solve.md describes the algorithm.
package solve
