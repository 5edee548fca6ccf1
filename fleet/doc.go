// Package fleet keeps the state that every node of an httpdns fleet must share — the whitelist, the accounts and
// the CIDRDB — as versioned documents in Redis (docs/design.md §6: a fleet that acts as one).
//
// Each node keeps its own copy primary and in memory; Redis is where a change is agreed on and announced. A
// change is a Put with compare-and-set on the version: it writes version N+1 only if Redis still holds N, in one
// Lua script that also PUBLISHes the kind and the new version, so two admins uploading at once cannot silently
// overwrite each other — one wins, the other gets a *ConflictError naming the version it has to start from.
// Every node Watches the notifications, reads the new document, checks it (Get verifies the body's sha256) and
// applies it. Notifications published while a node's subscription is down are lost; Watch reports each
// (re)subscription so the node re-reads what it holds, and a periodic re-read covers the rest.
//
// Redis restarted without persistence comes back empty; every node then Restores its local copies, and the
// Restore script keeps the highest version whichever node gets there first.
//
// Keys (the prefix defaults to "httpdns:"):
//
//	httpdns:doc:{kind}   a hash: version, sha256, who, when (RFC 3339, UTC), body
//	httpdns:events       the channel: {"kind":"whitelist","version":7}
//	httpdns:l2:{name}|{qtype}|{tier}|{scope}   a string: one answer of the shared answer cache (L2, l2.go),
//	                                           expiring with the answer
//	httpdns:node:{id}    a node's last heartbeat (JSON), expiring three heartbeat intervals after it was sent
//	httpdns:nodes        a sorted set: the ids of the nodes heard from in the last hour, scored by when
//	                     (Redis's clock, ms)
//
// Heartbeats (heartbeat.go): every node writes its own every few seconds — its addresses, the versions it
// serves with its last sync, its L2 counts — and Nodes reads the index and then each node's key in one
// pipeline, never SCANning the masters of a cluster; a node is alive while its heartbeat has not expired.
//
// Each document is one key, so the scripts touch one slot and work the same on a Redis Cluster. Besides package cache
// (for the L2's keys) this package imports no other package of the project; serve shares the whitelist,
// the accounts and the CIDRDB through it (cmd/httpdns/fleet*.go).
package fleet
