// Package upstream is the pool of recursive nodes the resolver asks with ECS: consistent-hash
// preference orders, node health (ejection and readmission), active checks, hedged queries,
// failover, a cap on concurrent upstream work, reused sockets and the per-node metrics.
//
// # Routing
//
// A key (for the resolver: name + "|" + cache scope) hashes to one of a fixed set of partitions, and
// each partition has a preference order over the nodes: an owner from consistent's bounded-load ring,
// then the others by rendezvous hashing (ring.go). The first healthy node in that order answers the
// key, so one subnet's answer for one name is always asked of the same node and that node's recursive
// cache stays warm. A node running far more attempts than the average gives its keys to the next node
// while it is busy (dynamic bounded load).
//
// # Health: evidence about the node, never about a name
//
// A client chooses the names it asks, so a failure that may belong to the name must not cost the
// node its place in the ring; otherwise ten requests for names that time out or SERVFAIL take healthy
// nodes out one after the other. The rules (node.go, check.go):
//
//   - SERVFAIL, REFUSED and replies that do not match the query or cannot be read (a node ignoring
//     the EDNS size sends more than the buffer takes) are the name's problem. They never
//     count against the node; they only make it suspect, so the next round of active checks asks it
//     a known-good name (Config.CheckName).
//   - A timeout is the name's problem too, until the node has timed out on CheckTimeoutNames distinct
//     names within the health window. Then a check of the known-good name is sent at once: if the node
//     answers it, the timeouts were the names' and are forgotten; if it fails, they count as failures,
//     and so does every further timeout until the node replies again.
//   - Network errors (connection refused, unreachable) and failed active checks (SERVFAIL for the
//     known-good name, silence) are the node's.
//   - Local errors, from before anything was sent (no file descriptors left, bind errors), are
//     nobody's: they never count against a node.
//
// A node whose counted failures reach Config.EjectErrorRate of at least 10 recent outcomes (30 s) is
// ejected. So is a slow one, but live latency is the names' as much as the node's (a name whose
// authoritative servers are slow is slow everywhere): a latency EWMA over Config.SlowFactor times the
// others' median starts a check of the known-good name, and only a slow check ejects; a fast one
// restarts the EWMA from the check's latency. Ejection builds a new routing snapshot that puts the
// node last in every order, so exactly its keys move. Active checks of the known-good
// name bring it back after three good ones in a row. The last healthy node is never ejected.
//
// # One name's failure stays one name's cost
//
// A failed attempt moves on to the next node, but a name that fails the same way (SERVFAIL, REFUSED,
// a bad reply, a timeout) on two nodes is not asked of the rest: Exchange returns ErrNameFailed, and
// the resolver caches the failure briefly. A bad name costs at most two upstream queries.
//
// # Bounded work
//
// At most Config.MaxInflight exchanges run at once. Exchange waits up to Config.InflightWait (or the
// context's end) for a slot, then fails with ErrBusy; TryExchange, for background work, fails at once.
// UDP sockets are connected once and reused (a small idle set per node): miekg/dns skips replies with
// another ID on a packet connection, and a socket that saw any error is closed rather than reused.
//
// # Hedging
//
// When a node is late for a query — no reply within its recent p95 latency, and at least
// Config.HedgeMin — the next node is asked too and the first valid reply wins. A node needs 20
// latency samples before it is hedged against at all, and hedges are held to a tenth of the
// exchanges, so a burst of new names a recursive node has to resolve slowly does not double the
// upstream load.
package upstream
