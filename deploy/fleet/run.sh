#!/usr/bin/env bash
# A fleet on loopback (docs/design.md §9.4, §9.5): Redis, the simulated CDN world, three httpdns
# nodes of one fleet and nginx with level-1 hashing in front (deploy/nginx/httpdns.conf). Shows
#   (a) a whitelist uploaded on node1 reaching node2 and node3 (each node's version, and the time);
#   (b) the shared answer cache (L2) saving upstream queries: the same traffic replayed against the
#       nodes without L2, then after restarting them with it, upstream queries counted from /metrics;
#   (c) GET /admin/fleet: every node, its versions, last sync, L2 hit ratio and heartbeat age.
#
#   deploy/fleet/run.sh            # from anywhere; needs go, curl, nginx and redis-server
#
# nginx and redis-server are installed with apt-get when missing and we are root; otherwise the
# script says what to install. Environment: BASE_PORT (default 19080: nginx on it, the nodes on
# +1..+3, their admin on +101..+103, the world's DNS on +53, Redis on +79, all on 127.0.0.1),
# CLIENTS (world clients replayed, one /24 each, 1..64, default 48), KEEP=1 (keep the temporary
# directory with every config and log). Nothing outside the temporary directory is touched except
# the packages (and Go's build cache). Every wait is bounded; a run takes about 15 s. Exits 1 if a
# node did not get the upload, a request failed, L2 saved nothing, or /admin/fleet is not 3 nodes
# in sync.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BASE_PORT=${BASE_PORT:-19080}
CLIENTS=${CLIENTS:-48}
NGINX_PORT=$BASE_PORT
DNS_PORT=$((BASE_PORT + 53))
REDIS_PORT=$((BASE_PORT + 79))
NODES=(1 2 3)
# Names with TTLs of 90 s and more (no active refresh during the run), of every tier once the
# upload below has moved cdn-d and cdn-e to city+ISP: subnet, cityisp and global.
HOSTS=(img.cdn-a.test static.cdn-c.test news.cdn-d.test m.cdn-d.test feed.cdn-e.test www.portal.test)
TOKEN=fleet-demo-token
WAIT=15 # seconds any one thing may take to come up

. "$HERE/../lib.sh" # die, find_or_install, use_tmp, wait_for, start_nginx, ...

# --- tools, ports and the temporary directory --------------------------------------------------------
NGINX=$(find_or_install nginx nginx)
REDIS=$(find_or_install redis-server redis-server)
need_build_tools
((CLIENTS >= 1 && CLIENTS <= 64)) || die "CLIENTS must be 1..64"
ports_free "$NGINX_PORT" $((BASE_PORT + 1)) $((BASE_PORT + 2)) $((BASE_PORT + 3)) \
	$((BASE_PORT + 101)) $((BASE_PORT + 102)) $((BASE_PORT + 103)) "$DNS_PORT" "$REDIS_PORT"
use_tmp httpdns-fleet

# redis_ping: Redis answers PING (in its inline protocol, so redis-cli is not needed).
redis_ping() {
	local line
	exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" || return 1
	printf 'PING\r\n' >&3
	read -r -t 1 line <&3 || true
	exec 3>&-
	[[ $line == +PONG* ]]
}

# admin N PATH [CURL ARGS...]: a request to node N's admin API with the token.
admin() {
	local n=$1 path=$2
	shift 2
	curl -fsS --max-time 5 -H "Authorization: Bearer $TOKEN" "$@" "http://127.0.0.1:$((BASE_PORT + 100 + n))$path"
}

# metric N SERIES: the sum of node N's samples whose line starts with SERIES ("name" or 'name{l="v"').
metric() {
	admin "$1" /metrics | awk -v s="$2" 'index($0, s) == 1 && (substr($0, length(s) + 1, 1) ~ /[ {},]/) {
		t += $NF } END { print t + 0 }'
}

# --- build, then start Redis, the world and three nodes ------------------------------------------
build_binaries

mkdir -p "$TMP/redis"
# No persistence: what the fleet keeps in Redis, each node keeps a copy of (see the README).
"$REDIS" --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no --dir "$TMP/redis" \
	--daemonize no --logfile "$TMP/redis/redis.log" &
PIDS+=($!)
wait_for "redis-server" "$!" "$TMP/redis/redis.log" redis_ping
echo "redis: $("$REDIS" --version | awk '{print $3}') on 127.0.0.1:$REDIS_PORT"

start_cdnsim -clients "$CLIENTS"

declare -A NODE_PID
# start_node N L2: node N with fleet.l2_cache L2 (true|false), its own directory and whitelist copy.
start_node() {
	local n=$1 l2=$2 dir=$TMP/node$1
	mkdir -p "$dir"
	[[ -f $dir/domains.txt ]] || cp "$TMP/world/domains.txt" "$dir/domains.txt"
	cat >"$dir/httpdns.yaml" <<-EOF
		listen: "127.0.0.1:$((BASE_PORT + n))"
		admin_listen: "127.0.0.1:$((BASE_PORT + 100 + n))"
		admin_token: "$TOKEN"
		upstreams: ["127.0.0.1:$DNS_PORT"]
		geoip:
		  city: $TMP/world/world-city.mmdb
		  isp: $TMP/world/world-isp.mmdb
		domains: $dir/domains.txt
		trusted_proxies: ["127.0.0.0/8"]
		log_level: warn
		fleet:
		  redis: ["127.0.0.1:$REDIS_PORT"]
		  node_id: node$n
		  sync_interval: 2s
		  l2_cache: $l2
	EOF
	"$TMP/bin/httpdns" serve -config "$dir/httpdns.yaml" >>"$dir/httpdns.log" 2>&1 &
	NODE_PID[$n]=$!
	PIDS+=($!)
	wait_for "httpdns node$n" "$!" "$dir/httpdns.log" curl -fsS --max-time 1 "http://127.0.0.1:$((BASE_PORT + n))/healthz"
}
for n in "${NODES[@]}"; do start_node "$n" false; done
echo "nodes: node1..node3 on 127.0.0.1:$((BASE_PORT + 1))..$((BASE_PORT + 3)) (admin +100), one fleet, L2 off"

# --- nginx: deploy/nginx's snippet rendered into a main config of our own (lib.sh) -----------------
start_nginx "$NGINX" "$HERE/../nginx/httpdns.conf"
echo "nginx: 127.0.0.1:$NGINX_PORT -> node1..node3, level-1 hashing on (client subnet, host)"

# whitelist_versions: "node1=V node2=V node3=V" from each node's httpdns_fleet_version{kind="whitelist"}.
whitelist_versions() {
	local n out=""
	for n in "${NODES[@]}"; do out+="${out:+ }node$n=$(metric "$n" 'httpdns_fleet_version{kind="whitelist"')"; done
	echo "$out"
}

# --- (a) one upload on node1 reaches node2 and node3 -----------------------------------------------
echo
echo "(a) whitelist upload on node1"
echo "  before: $(whitelist_versions)"
sed -e 's/^\*\.cdn-d\.test subnet$/*.cdn-d.test cityisp/' -e 's/^\*\.cdn-e\.test subnet$/*.cdn-e.test cityisp/' \
	"$TMP/world/domains.txt" >"$TMP/upload.txt"
grep -q '^\*\.cdn-d\.test cityisp$' "$TMP/upload.txt" || die "the world's whitelist has no *.cdn-d.test line to change"
START_NS=$(date +%s%N)
admin 1 /admin/domains -X PUT --data-binary "@$TMP/upload.txt" >/dev/null || die "the upload on node1 failed"
UPLOADED=$(metric 1 'httpdns_fleet_version{kind="whitelist"')
deadline=$((SECONDS + 10))
until [[ $(whitelist_versions) == "node1=$UPLOADED node2=$UPLOADED node3=$UPLOADED" ]]; do
	((SECONDS < deadline)) || die "after 10 s: $(whitelist_versions), want version $UPLOADED everywhere"
	sleep 0.02
done
ELAPSED_MS=$((($(date +%s%N) - START_NS) / 1000000))
echo "  after:  $(whitelist_versions)   (every node within $ELAPSED_MS ms of the upload)"
for n in 2 3; do
	admin "$n" /admin/domains | grep -q '^\*\.cdn-d\.test cityisp$' || die "node$n does not serve the uploaded whitelist"
done
echo "  node2 and node3 serve the uploaded text: *.cdn-d.test and *.cdn-e.test now cityisp"

# --- (b) the L2 saving ------------------------------------------------------------------------------
# The traffic: every (client, host) once through nginx, then the same requests again spread
# round-robin over the three nodes directly, as a plain round-robin balancer (or nginx after a
# node change) would send them: each lands on a node that may not have asked for it yet.
mapfile -t CLIENT_ADDRS < <(grep -v '^#' "$TMP/world/clients.txt" | awk '{print $1}')
: >"$TMP/via-nginx.curl"
for n in "${NODES[@]}"; do : >"$TMP/rr-node$n.curl"; done
i=0
for addr in "${CLIENT_ADDRS[@]}"; do
	for host in "${HOSTS[@]}"; do
		printf 'url = "http://127.0.0.1:%s/d?host=%s&ip=%s"\noutput = "/dev/null"\n' "$NGINX_PORT" "$host" "$addr" \
			>>"$TMP/via-nginx.curl"
		n=$((i % 3 + 1)) i=$((i + 1))
		printf 'url = "http://127.0.0.1:%s/d?host=%s&ip=%s"\noutput = "/dev/null"\n' $((BASE_PORT + n)) "$host" "$addr" \
			>>"$TMP/rr-node$n.curl"
	done
done
REQUESTS=$((i * 2))

# replay FILE: send one part of the traffic; fails on any answer but 200.
replay() {
	local codes
	codes=$(curl -sS --max-time 30 -w '%{http_code}\n' -K "$1") || die "replaying $1 failed"
	if grep -qv '^200$' <<<"$codes"; then die "replaying $1: answers other than 200: $(sort <<<"$codes" | uniq -c | tr '\n' ' ')"; fi
}

# fleet_sum SERIES: the sum of SERIES over the three nodes.
fleet_sum() {
	local n t=0
	for n in "${NODES[@]}"; do t=$((t + $(metric "$n" "$1"))); done
	echo "$t"
}

# run_traffic LABEL: replay through nginx, then round-robin, and print the upstream queries and L2
# reads each part cost; sets UPSTREAM to the total.
run_traffic() {
	local before after hits reads rr
	replay "$TMP/via-nginx.curl"
	before=$(fleet_sum httpdns_upstream_queries_total)
	for n in "${NODES[@]}"; do replay "$TMP/rr-node$n.curl"; done
	after=$(fleet_sum httpdns_upstream_queries_total)
	hits=$(fleet_sum 'httpdns_l2_requests_total{result="hit"')
	reads=$(fleet_sum httpdns_l2_requests_total)
	rr=$((after - before))
	printf '  %-11s %4d upstream queries (through nginx %d, round-robin %d); L2: %d of %d reads hit\n' \
		"$1:" "$after" "$before" "$rr" "$hits" "$reads"
	UPSTREAM=$after
}

echo
echo "(b) the shared answer cache: ${#CLIENT_ADDRS[@]} clients x ${#HOSTS[@]} hosts through nginx, then the same round-robin: $REQUESTS requests"
run_traffic "without L2"
WITHOUT=$UPSTREAM
for n in "${NODES[@]}"; do
	stop_pid "${NODE_PID[$n]}"
	start_node "$n" true
done
echo "  (restarted the three nodes with fleet.l2_cache: true: empty caches, whitelist from their copies: $(whitelist_versions))"
run_traffic "with L2"
WITH=$UPSTREAM
((WITHOUT > 0)) || die "no upstream queries without L2"
echo "  L2 saved $((WITHOUT - WITH)) upstream queries: $((100 * (WITHOUT - WITH) / WITHOUT))% fewer"
((WITH < WITHOUT)) || die "L2 saved no upstream query"

# --- (c) /admin/fleet --------------------------------------------------------------------------------
sleep 2 # one heartbeat (every sync_interval, 2 s here), so the L2 counts of the replay show
echo
echo "(c) GET /admin/fleet on node2"
FLEET=$(admin 2 /admin/fleet) || die "GET /admin/fleet failed"
echo "$FLEET"
listed=$(grep -c '"admin_listen"' <<<"$FLEET" || true)
behind=$(grep -c '"out_of_sync": true' <<<"$FLEET" || true)
((listed == 3 && behind == 0)) || die "/admin/fleet lists $listed nodes, $behind out of sync; want 3 in sync"

echo
echo "OK: the upload reached every node in $ELAPSED_MS ms; L2 cut upstream queries from $WITHOUT to $WITH; /admin/fleet lists 3 nodes in sync"
