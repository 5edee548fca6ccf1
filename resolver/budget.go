package resolver

import (
	"sync"
	"time"
)

// Kind is why a query goes upstream. Kinds share one budget in priority order: a client's miss
// first, then active refresh, passive refresh, prefetch and, last, accuracy checks (accuracy.go).
type Kind int

// Kinds of upstream queries, highest priority first.
const (
	KindMiss Kind = iota
	KindActive
	KindPassive
	KindPrefetch
	KindCheck
)

func (k Kind) String() string {
	switch k {
	case KindMiss:
		return "miss"
	case KindActive:
		return "active"
	case KindPassive:
		return "passive"
	case KindCheck:
		return "check"
	default:
		return "prefetch"
	}
}

// reserve is the share of the budget's burst each kind must leave untouched: background work only
// spends tokens when plenty are left, so a burst of client misses always finds some.
var reserve = [...]float64{KindMiss: 0, KindActive: 0.05, KindPassive: 0.15, KindPrefetch: 0.3, KindCheck: 0.5}

// bucket is a token bucket of rate tokens a second holding at most burst, refilled by the injected
// clock. Its owner holds mu around refill and what it takes.
type bucket struct {
	rate, burst float64
	now         func() time.Time

	mu     sync.Mutex
	tokens float64
	last   time.Time
}

func newBucket(rate, burst float64, now func() time.Time) bucket {
	return bucket{rate: rate, burst: burst, now: now, tokens: burst, last: now()}
}

// refill adds the tokens earned since the last refill, up to burst. Call with mu held.
func (b *bucket) refill() {
	now := b.now()
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+elapsed*b.rate)
		b.last = now
	}
}

// budget is a token bucket of upstream queries a second, burst one second's worth. A client's
// miss always goes (it may take the bucket into debt, down to one second's worth, which then holds
// background work back); the other kinds go only while the bucket holds more than their reserve.
// A zero rate means no limit.
type budget struct{ bucket }

func newBudget(rate float64, now func() time.Time) *budget {
	return &budget{newBucket(rate, rate, now)}
}

// allow takes a token for a query of kind k, or reports that k must not go now.
func (b *budget) allow(k Kind) bool {
	if b.rate <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	if k == KindMiss {
		b.tokens = max(b.tokens-1, -b.rate)
		return true
	}
	if b.tokens-1 < reserve[k]*b.rate {
		return false
	}
	b.tokens--
	return true
}
