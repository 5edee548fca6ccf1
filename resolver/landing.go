package resolver

import (
	"sync"
	"time"
)

// landing holds the answers of fetches that just finished, by flight key, for a moment. The cache
// applies writes asynchronously (ristretto), so a miss that started just after a fetch of its key
// ended may not see the answer in the cache yet; it takes the landed answer instead of asking
// upstream a second time.
type landing struct {
	mu sync.Mutex
	m  map[string]landed
}

type landed struct {
	f  fetched
	at time.Time
}

const (
	landingTime = time.Second // how long a landed answer stands in for the cache
	landingMax  = 4096        // bound on landed answers held
)

func newLanding() *landing {
	return &landing{m: make(map[string]landed)}
}

// get returns the answer landed for flight within landingTime before now, if it is still fresh.
func (l *landing) get(flight string, now time.Time) (fetched, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, ok := l.m[flight]
	if !ok || now.Sub(v.at) >= landingTime || v.f.entry.Remaining(now) == 0 {
		return fetched{}, false
	}
	return v.f, true
}

// put records the answer of a flight that just ended. When full it first drops what is too old to
// use; if nothing is, it starts over (the cache has applied those writes long since).
func (l *landing) put(flight string, f fetched, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.m) >= landingMax {
		for k, v := range l.m {
			if now.Sub(v.at) >= landingTime {
				delete(l.m, k)
			}
		}
		if len(l.m) >= landingMax {
			clear(l.m)
		}
	}
	l.m[flight] = landed{f: f, at: now}
}
