package resolver

import "errors"

// ErrNoHealthyUpstream is Ready's error while every upstream node is ejected.
var ErrNoHealthyUpstream = errors.New("no upstream node is in the ring: every node is ejected or failing")

// Ready reports whether the resolver can send queries upstream: nil while at least one upstream node
// is in the ring (not ejected) and not failing, else ErrNoHealthyUpstream. The pool never ejects its
// last node, but stops counting it once it fails as an ejected node would (upstream.Pool.Healthy).
// A readiness probe (/readyz) calls it; it takes no lock and sends nothing.
func (r *Resolver) Ready() error {
	if r.pool.Healthy() == 0 {
		return ErrNoHealthyUpstream
	}
	return nil
}
