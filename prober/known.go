package prober

import (
	"net/netip"
	"slices"
	"sync"
)

// effective returns the prefix an observation's answer holds for, by its
// ECS scope (RFC 7871 §7.2.1): wider than the subnet asked when the scope
// is shorter, the piece of it holding its address when longer (but never
// finer than capBits, the finest prefix probed there), the subnet itself
// without a scope.
func effective(o *Observation, capBits int) netip.Prefix {
	bits := o.Subnet.Bits()
	if o.Scope >= 0 {
		bits = o.Scope
	}
	bits = min(bits, max(capBits, 0))
	return netip.PrefixFrom(o.Subnet.Addr(), bits).Masked()
}

// question is one (domain, qtype) pair of the probe list, by index.
type question int

// target is one probe: a subnet and a question.
type target struct {
	p netip.Prefix
	q question
}

// known is what the current round already knows: the subnets asked and
// the prefixes their answers hold for. Safe for concurrent use.
type known struct {
	mu     sync.Mutex
	asked  map[target]struct{}
	answer map[target]struct{}
}

func newKnown() *known {
	return &known{asked: map[target]struct{}{}, answer: map[target]struct{}{}}
}

// add records that subnet was asked q and that the answer holds for eff.
func (k *known) add(subnet, eff netip.Prefix, q question) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.asked[target{subnet, q}] = struct{}{}
	k.answer[target{eff, q}] = struct{}{}
}

// done reports whether t needs no probe: it was asked, or an answer holds
// for a prefix that contains it (a wide ECS scope).
func (k *known) done(t target) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.asked[t]; ok {
		return true
	}
	for b := t.p.Bits(); b >= 0; b-- {
		if _, ok := k.answer[target{ancestor(t.p, b), t.q}]; ok {
			return true
		}
	}
	return false
}

// unitSet finds the unit holding a prefix.
type unitSet map[netip.Prefix]struct{}

func newUnitSet(units []netip.Prefix) unitSet {
	s := make(unitSet, len(units))
	for _, u := range units {
		s[normalPrefix(u)] = struct{}{}
	}
	return s
}

// holding returns the unit that contains p, if any.
func (s unitSet) holding(p netip.Prefix) (netip.Prefix, bool) {
	for b := p.Bits(); b >= 0; b-- {
		a := ancestor(p, b)
		if _, ok := s[a]; ok {
			return a, true
		}
	}
	return netip.Prefix{}, false
}

// capFor is the finest prefix probed around p: its unit's sub-probe limit,
// or the family's when p lies in no unit.
func (s unitSet) capFor(p netip.Prefix) int {
	if u, ok := s.holding(p); ok {
		return subCap(u)
	}
	return familyCap(p)
}

// followUps returns the pieces of subnet to probe after an answer that
// holds only for eff, a finer prefix inside it: the ECS scope says the
// subnet is not uniform for this name, so its pieces at eff's length are
// asked one by one (eff itself is already answered).
func followUps(subnet, eff netip.Prefix) []netip.Prefix {
	if eff.Bits() <= subnet.Bits() {
		return nil
	}
	return slices.DeleteFunc(pieces(subnet, eff.Bits()), func(p netip.Prefix) bool { return p == eff })
}
