package resolver

import "errors"

// ErrNoHealthyUpstream is Ready's error while every upstream node is ejected.
var ErrNoHealthyUpstream = errors.New("no upstream node is in the ring: every node is ejected")

// Ready reports whether the resolver can send queries upstream: nil while at least one upstream node
// is in the ring (not ejected), else ErrNoHealthyUpstream. A readiness probe (/readyz) calls it; it
// takes no lock and sends nothing.
func (r *Resolver) Ready() error {
	if len(r.pool.table.Load().healthy) == 0 {
		return ErrNoHealthyUpstream
	}
	return nil
}
