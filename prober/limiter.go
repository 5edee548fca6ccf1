package prober

import (
	"context"
	"sync"
	"time"
)

// limiter is a token bucket: rate tokens a second, at most burst saved up.
// Each probe attempt takes one token.
type limiter struct {
	mu     sync.Mutex
	rate   float64 // tokens per second; <= 0 means unlimited
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

func newLimiter(rate float64, burst int, now func() time.Time) *limiter {
	b := float64(max(burst, 1))
	return &limiter{rate: rate, burst: b, tokens: b, now: now, last: now()}
}

// reserve takes a token and returns how long the caller must wait before
// using it (0 when one was available). Reservations queue up: the bucket
// may go negative, so waiting callers are served in order at the rate.
func (l *limiter) reserve() time.Duration {
	if l.rate <= 0 {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if elapsed := now.Sub(l.last); elapsed > 0 {
		l.tokens = min(l.burst, l.tokens+elapsed.Seconds()*l.rate)
		l.last = now
	}
	l.tokens--
	if l.tokens >= 0 {
		return 0
	}
	return time.Duration(-l.tokens / l.rate * float64(time.Second))
}

// wait blocks until the caller may send, or ctx ends.
func (l *limiter) wait(ctx context.Context) error {
	d := l.reserve()
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
