package resolver

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"

	"github.com/cespare/xxhash/v2"
)

// Auto-global (docs/design.md §5.4): a name whose answers carry ECS scope 0 everywhere is the same for
// every client and is best cached once, name-wide. But scope 0 (or NODATA) is also what a GeoDNS
// answers for a region it has no mapping for, while it scopes its answers elsewhere: taking one
// client's scope-0 answer for everyone would let one `ip=` decide everybody's answer. So a name
// becomes global only on evidence — unscoped answers for autoGlobalBlocks distinct blocks in at
// least autoGlobalPlaces distinct city+ISPs — and a scoped answer for any client ends that for as
// long as the name is remembered.
const (
	autoGlobalBlocks = 4
	autoGlobalPlaces = 2
)

// nameType is a name and a query type: what the evidence is about.
type nameType struct {
	name  string
	qtype uint16
}

// place is a client's country, city and ISP.
type place struct{ country, city, isp string }

// evidence is what the unscoped answers of one name and type have shown so far.
type evidence struct {
	blocks  [autoGlobalBlocks]netip.Prefix
	nblocks int
	places  [autoGlobalPlaces]place
	nplaces int
	scoped  bool // a scoped answer was seen: never global while remembered
	// verified are the places whose clients already checked the name-wide answer with their own
	// ECS (see verify).
	verified  [verifyPlaces]place
	nverified int
}

// verifyPlaces is how many distinct places check an auto-global name's answer for themselves;
// past them, one request in verifyOneIn does.
const (
	verifyPlaces = 16
	verifyOneIn  = 32
)

func (e *evidence) global() bool {
	return !e.scoped && e.nblocks >= autoGlobalBlocks && e.nplaces >= autoGlobalPlaces
}

// autoGlobal remembers the evidence for up to max names; when full, a new name replaces an
// arbitrary one (forgetting only ever makes a name per-client again, which is safe). It is sharded
// by name, so the requests of one name never wait for another's.
type autoGlobal struct {
	shards []autoGlobalShard
}

type autoGlobalShard struct {
	max int
	mu  sync.Mutex
	m   map[nameType]*evidence
}

// autoGlobalShards is the most shards the table is cut into.
const autoGlobalShards = 32

func newAutoGlobal(names int) *autoGlobal {
	n := max(1, min(autoGlobalShards, names))
	a := &autoGlobal{shards: make([]autoGlobalShard, n)}
	for i := range a.shards {
		per := names / n
		if i < names%n {
			per++
		}
		a.shards[i] = autoGlobalShard{max: per, m: make(map[nameType]*evidence)}
	}
	return a
}

// shard is the part of the table that holds name.
func (a *autoGlobal) shard(name string, qtype uint16) *autoGlobalShard {
	return &a.shards[(xxhash.Sum64String(name)+uint64(qtype))%uint64(len(a.shards))]
}

// global reports whether the name is global for everyone now.
func (a *autoGlobal) global(name string, qtype uint16) bool {
	sh := a.shard(name, qtype)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[nameType{name, qtype}]
	return ok && e.global()
}

// unscoped records an unscoped (scope 0 or negative) answer fetched with req's ECS and reports
// whether the name is now global.
func (a *autoGlobal) unscoped(req *request) bool {
	sh := a.shard(req.name, req.qtype)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.get(nameType{req.name, req.qtype})
	if e.scoped {
		return false
	}
	block := req.loc.Block
	if !block.IsValid() {
		block = req.src
	}
	if e.nblocks < autoGlobalBlocks && !slices.Contains(e.blocks[:e.nblocks], block) {
		e.blocks[e.nblocks] = block
		e.nblocks++
	}
	pl := place{req.loc.Country, req.loc.City, req.loc.ISP}
	if pl != (place{}) && e.nplaces < autoGlobalPlaces && !slices.Contains(e.places[:e.nplaces], pl) {
		e.places[e.nplaces] = pl
		e.nplaces++
	}
	return e.global()
}

// verify reports whether req, about to be served an auto-global name's name-wide answer, should
// also ask upstream for its own key in the background. The evidence that made the name global may
// come from clients that chose their addresses (`ip=`) in regions the CDN has no mapping for; the
// first request from each new place (and a sample after that) checks the answer with its own ECS,
// and a scoped reply ends auto-global at once, so a wrong name-wide answer reaches at most one
// request a mapped place.
func (a *autoGlobal) verify(req *request) bool {
	if !req.src.IsValid() {
		return false
	}
	sh := a.shard(req.name, req.qtype)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e, ok := sh.m[nameType{req.name, req.qtype}]
	if !ok || !e.global() {
		return false
	}
	pl := place{req.loc.Country, req.loc.City, req.loc.ISP}
	if slices.Contains(e.verified[:e.nverified], pl) {
		return false
	}
	if e.nverified < verifyPlaces {
		e.verified[e.nverified] = pl
		e.nverified++
		return true
	}
	return rand.IntN(verifyOneIn) == 0
}

// scoped records a scoped answer for the name: it is not global.
func (a *autoGlobal) scoped(name string, qtype uint16) {
	sh := a.shard(name, qtype)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.get(nameType{name, qtype})
	*e = evidence{scoped: true}
}

// get returns the name's evidence, making room for it if needed. sh.mu is held.
func (sh *autoGlobalShard) get(k nameType) *evidence {
	if e, ok := sh.m[k]; ok {
		return e
	}
	if len(sh.m) >= sh.max {
		for old := range sh.m {
			delete(sh.m, old)
			break
		}
	}
	e := &evidence{}
	sh.m[k] = e
	return e
}
