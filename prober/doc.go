// Package prober learns the adaptive subnet library (the CIDRDB) offline:
// blocks of client subnets that the CDNs themselves treat as one (docs/design.md
// §1.2). It probes recursive nodes with EDNS Client Subnet (RFC 7871),
// records every answer in an observations file, and merges and splits the
// blocks of a starting library by what the answers say. `httpdns probe`
// is [Run]; [Probe] and [Learn] are its two halves.
//
// # Units
//
// The learner works on units: every /24 (IPv4) or /56 (IPv6) of the
// starting library's networks, the ECS source prefixes the resolver sends
// (docs/design.md §6.1), so a block never splits finer than the resolver can ask
// for, unless a CDN says so (below). An IPv4 network wider than /8 is cut
// into 2^16 equal units instead; a network finer than a unit is a unit of
// its own. An IPv6 unit is never wider than /56: an answer to a wider
// source proves nothing about the /56s inside it when the CDN echoes the
// source. So an IPv6 network wider than /52 (a carrier's /32 holds 2^24
// /56s) is never enumerated: its units are the /56s clients asked from
// (the server's demand log, [Demand]) and a bounded sample spread over it
// ([UnitsFor]), and those of its /56s that the answers do not put in a
// learnt block leave the library instead of staying in the old wide
// block, whose other /56s nobody asked about. [Units] lists them.
//
// # Probing
//
// For every unit and every probe question (name × qtype, A by default)
// [Probe] sends one query with the unit as ECS source to one of the
// upstreams, picked by a hash of the unit and question; a failed attempt
// (timeout, SERVFAIL, REFUSED, a reply whose question or ECS option does
// not echo the query, RFC 7871 §7.3) is retried after an exponential
// backoff with jitter on the next node. Queries go out at a bounded rate
// (a token bucket) with a bounded number in flight. A probe that fails
// after its retries is counted and reported; when [ProbeConfig.AbortAfter]
// probes fail in a row (every node down, refused, silent), Probe stops
// with [ErrNoUpstream], naming each node's last error, in a few seconds
// rather than after the whole list.
//
// The reply's ECS scope is used twice. A scope shorter than the source
// says the answer holds for the wider prefix: every other unit inside it
// is answered for that question and not probed (units are sent in
// bit-reversed order, so neighbours go out late, after the wide answers
// that cover them have come back); the learner reads the same observation
// as covering them, so nothing inferred is written. A scope longer than
// the source says the unit is not uniform: its pieces at the scope's
// length are probed one by one, at most 4 bits (16 pieces) finer than the
// unit and never finer than /28 (/64), and again inside a piece whose
// reply is finer still, down to that limit. A resolver split signal with
// a fine scope has its subnet's pieces probed the same way.
//
// # Rounds and resuming
//
// A run probes under a round id, its start time in RFC 3339. Every answer
// is appended to the observations file as soon as it arrives; the file is
// fsynced every second and on exit. [Run] resumes the latest round in the
// file when its last observation is recent ([DefaultResumeWindow]) and
// skips every probe the round already has (answered, or covered by a wide
// scope), so a killed run resumes where it stopped and loses at most the
// last second of answers; otherwise it starts a new round.
//
// # Observations file
//
// One JSON object a line ([Observation]):
//
//	{"subnet":"20.0.1.0/24","domain":"img.cdn-a.test","qtype":1,
//	 "answers":["62.0.0.1"],"rcode":0,"scope":20,"node":"10.0.0.53:53",
//	 "time":"2026-03-01T10:00:02.5Z","round":"2026-03-01T10:00:00Z","source":"probe"}
//
// subnet is the ECS source prefix asked; domain is lower case without the
// trailing dot; answers are the addresses at the end of the CNAME chain,
// sorted; rcode is 0 or 3 (NXDOMAIN); scope is the reply's ECS scope, -1
// without one; source is "probe", or "split" for the resolver's split
// signals (round "split", node ""), which are input like any other line.
// A malformed line is reported with its line number and skipped.
//
// # Learning
//
// A unit's signature for a question is its answer set with the rcode,
// order-free; its vector is the signatures for every question in a fixed
// order. Units probed inside are cut into cells as fine as the finest
// answer seen inside them. Each cell takes, for each question, the latest
// answer whose prefix holds it (an observation's subnet, widened or
// narrowed by its scope), so a newer round that finds a unit uniform
// overrides an older one that cut it; on a tie the most specific prefix
// wins, then a probe over a split signal.
//
// Then, in address order, maximal runs of adjacent cells with equal
// vectors, in one country and one ISP, are found: merged when they came
// from several blocks, split off when their old block's other parts
// answered otherwise. A run's city and ASN are the ones that cover most of
// its addresses, so a few /24s the IP library puts in the wrong city do not
// move their block. Runs with equal vectors and the same country, city,
// ISP and ASN become one block even when they are apart in address space
// (a carrier's scattered allocations in one city that every CDN answers
// alike): the CDNs treat them as one, and one cache entry serves them all.
// [LearnInput.Contiguous] keeps every run a block of its own instead. A
// block becomes the minimal CIDR cover of each of its runs: one network
// when it is one CIDR-aligned run, several networks that share one
// block_id otherwise. A cell that lacks an answer to some
// question cannot be compared: it stays in (what is left of) its old
// block, with that block's id and place. A block that is exactly an old
// block keeps its id; new blocks get fresh ids above the old maximum. The
// country, city, ISP and ASN of a unit come from a [Locator] (the geo
// databases) or, without one, from its starting record.
//
// # Hysteresis
//
// When the starting library is a learnt one ([LearnInput.Hysteresis]),
// blocks change only when two probe rounds agree: the latest round and
// the previous one are each partitioned as above, on their own probe
// observations only (a split signal counts through the probes it caused),
// and only the blocks both rounds make are taken; every other cell stays
// in its old block. One round of CDN
// noise therefore cannot make blocks flap, and a library learnt from a
// single round changes nothing until a second round confirms it.
//
// # Report
//
// [Report] counts blocks before and after, merged, split and unchanged,
// the units probed and covered by every question, the observations used
// and the malformed lines, what the probing did, and the share of probed
// units that the old and the new library would have answered wrongly:
// a block answers each question with the answer most of its parts got.
//
// # Speed
//
// The defaults (2,000 queries a second, 64 in flight, 1 s per attempt, 3
// retries) send 150,000 probes (12,000 /24s × 12 names) in 75 seconds: at
// a 25 ms round trip 2,000 a second need about 50 in flight, and three
// nodes take under 700 a second each. Wide scopes make it shorter
// (an honest CDN with /20 blocks needs one probe in sixteen).
// BenchmarkProbeThroughput measures it against three simulated nodes 25 ms
// away.
package prober
