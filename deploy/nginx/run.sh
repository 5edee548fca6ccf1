#!/usr/bin/env bash
# Level-1 hashing on loopback: nginx ("hash $l1key consistent" on client subnet + host, from
# httpdns.conf) in front of three httpdns nodes, which ask the simulated CDN world. Sends every
# (client subnet, host) of a grid several times and shows that each lands on one node; then stops
# node2 and shows that only node2's cells move (the "consistent" in the hash).
#
#   deploy/nginx/run.sh            # from anywhere; needs go, curl and nginx (installed if root)
#
# Environment: BASE_PORT (default 18080: nginx on it, nodes on +1..+3, their admin on +101..+103,
# the world's DNS on +53, all on 127.0.0.1), REPEAT (requests per cell, default 5), KEEP=1 (keep
# the temporary directory with every config and log), NGINX_CONF (the snippet to render; default
# httpdns.conf beside this script; a copy without the hash line shows round robin failing).
# Nothing outside the temporary directory is touched except the nginx package (and Go's build
# cache). Exits 1 if any (subnet, host) reached more than one node, any request failed, or a cell
# moved off a node that was still up. Every wait is bounded; a run takes about 5 s.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BASE_PORT=${BASE_PORT:-18080}
REPEAT=${REPEAT:-5}
NGINX_CONF=${NGINX_CONF:-$HERE/httpdns.conf}
NGINX_PORT=$BASE_PORT
DNS_PORT=$((BASE_PORT + 53))
NODES=(1 2 3)
HOSTS=(img.cdn-a.test video.cdn-b.test news.cdn-d.test www.portal.test)
LOOPBACK_SUBNETS=(127.0.1 127.0.2 127.0.3) # clients that connect from these, without ip=
WAIT=15                                     # seconds any one thing may take to come up

. "$HERE/../lib.sh" # die, find_or_install, use_tmp, wait_for, start_nginx, ...

# --- tools, ports and the temporary directory --------------------------------------------------------
NGINX=$(find_or_install nginx nginx)
need_build_tools
ports_free "$NGINX_PORT" $((BASE_PORT + 1)) $((BASE_PORT + 2)) $((BASE_PORT + 3)) \
	$((BASE_PORT + 101)) $((BASE_PORT + 102)) $((BASE_PORT + 103)) "$DNS_PORT"
use_tmp httpdns-l1

# --- build, then start the world and three nodes ---------------------------------------------------
build_binaries
start_cdnsim

for n in "${NODES[@]}"; do
	mkdir -p "$TMP/node$n"
	cat >"$TMP/node$n/httpdns.yaml" <<-EOF
		listen: "127.0.0.1:$((BASE_PORT + n))"
		admin_listen: "127.0.0.1:$((BASE_PORT + 100 + n))"
		upstreams: ["127.0.0.1:$DNS_PORT"]
		geoip:
		  city: $TMP/world/world-city.mmdb
		  isp: $TMP/world/world-isp.mmdb
		domains: $TMP/world/domains.txt
		trusted_proxies: ["127.0.0.0/8"]
		log_level: warn
	EOF
	"$TMP/bin/httpdns" serve -config "$TMP/node$n/httpdns.yaml" >"$TMP/node$n/httpdns.log" 2>&1 &
	PIDS+=($!)
	if [[ $n == 2 ]]; then NODE2_PID=$!; fi
	wait_for "httpdns node$n" "$!" "$TMP/node$n/httpdns.log" \
		curl -fsS --max-time 1 "http://127.0.0.1:$((BASE_PORT + n))/healthz"
	echo "node$n: httpdns on 127.0.0.1:$((BASE_PORT + n)) (admin $((BASE_PORT + 100 + n)))"
done

# --- nginx: the snippet rendered into a main config of our own (lib.sh), run in the foreground -------
start_nginx "$NGINX" "$NGINX_CONF"
echo "nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'): 127.0.0.1:$NGINX_PORT -> nodes $((BASE_PORT + 1))..$((BASE_PORT + 3))"
echo

# --- the grid ------------------------------------------------------------------------------------
# Rows are (client subnet, host) cells. World clients (one /24 each, spread over cities and ISPs,
# from clients.txt) ask with ip=, each request from another address of the /24; loopback clients
# connect from addresses of their /24 (curl --interface) without ip=.
ROW_SUBNET=() ROW_HOST=() ROW_WHERE=() ROW_NET=() ROW_VIA=()
mapfile -t CLIENTS < <(grep -v '^#' "$TMP/world/clients.txt")
for line in "${CLIENTS[@]}"; do
	read -r addr subnet city isp <<<"$line"
	for host in "${HOSTS[@]}"; do
		ROW_SUBNET+=("$subnet") ROW_HOST+=("$host") ROW_WHERE+=("$city/${isp//_/ }")
		ROW_NET+=("${addr%.*}") ROW_VIA+=(ip)
	done
done
for net in "${LOOPBACK_SUBNETS[@]}"; do
	for host in "${HOSTS[@]}"; do
		ROW_SUBNET+=("$net.0/24") ROW_HOST+=("$host") ROW_WHERE+=("(source address)")
		ROW_NET+=("$net") ROW_VIA+=(source)
	done
done

# node_name PORTLIST: "127.0.0.1:18082" -> node2; a retried request lists several ("node2,node1").
node_name() {
	local out="" a
	for a in ${1//,/ }; do out+="${out:+,}node$((${a##*:} - BASE_PORT))"; done
	echo "$out"
}

# ask ROW K: request K of a row. Sets CODE, NODE (the node that answered last) and IPS.
ask() {
	local r=$1 k=$2 out args
	local url="http://127.0.0.1:$NGINX_PORT/d?host=${ROW_HOST[r]}"
	if [[ ${ROW_VIA[r]} == ip ]]; then
		args=("$url&ip=${ROW_NET[r]}.$((10 + k * 47 % 240))")
	else
		args=(--interface "${ROW_NET[r]}.$((10 + k))" "$url")
	fi
	out=$(curl -sS --max-time 5 -o "$TMP/body" -w '%{http_code} %header{x-httpdns-node}' "${args[@]}") || out="000 -"
	read -r CODE NODE <<<"${out//, /,}"
	NODE=$(node_name "$NODE")
	NODE=${NODE##*,}
	IPS=$(sed -n 's/.*"ips":\[\([^]]*\)\].*/\1/p' "$TMP/body" 2>/dev/null | tr -d '"')
	if [[ $CODE != 200 ]]; then
		echo "  ${ROW_SUBNET[r]} ${ROW_HOST[r]}: HTTP $CODE $(head -c 200 "$TMP/body" 2>/dev/null)" >&2
	fi
}

# add WORD LIST: LIST with WORD appended unless it holds it already.
add() { if [[ " $2 " == *" $1 "* ]]; then echo "$2"; else echo "${2:+$2 }$1"; fi; }

declare -A NODE_REQS NODE_CELLS
CELL_NODES=() CELL_IPS=()
FAILED=0 SPLIT=0 TOTAL=0
for r in "${!ROW_HOST[@]}"; do
	for ((k = 0; k < REPEAT; k++)); do
		ask "$r" "$k"
		TOTAL=$((TOTAL + 1))
		if [[ $CODE != 200 ]]; then FAILED=$((FAILED + 1)); continue; fi
		CELL_NODES[r]=$(add "$NODE" "${CELL_NODES[r]:-}")
		CELL_IPS[r]=$(add "$IPS" "${CELL_IPS[r]:-}")
		NODE_REQS[$NODE]=$((${NODE_REQS[$NODE]:-0} + 1))
	done
done

printf '%-16s %-17s %-25s %-9s %s\n' "CLIENT SUBNET" "HOST" "CLIENTS" "NODE(S)" "ANSWER(S)"
for r in "${!ROW_HOST[@]}"; do
	nodes=${CELL_NODES[r]:-none} mark=""
	if [[ $nodes == *" "* ]]; then mark="  <-- more than one node"; SPLIT=$((SPLIT + 1)); fi
	for n in $nodes; do NODE_CELLS[$n]=$((${NODE_CELLS[$n]:-0} + 1)); done
	printf '%-16s %-17s %-25s %-9s %s%s\n' "${ROW_SUBNET[r]}" "${ROW_HOST[r]}" "${ROW_WHERE[r]}" "$nodes" \
		"${CELL_IPS[r]:-}" "$mark"
done

echo
echo "${#ROW_HOST[@]} (client subnet, host) cells x $REPEAT requests = $TOTAL requests, $FAILED failed"
echo "Spread over the nodes (a node asks upstream once per subnet cell, once for the global name):"
for n in "${NODES[@]}"; do
	upstream=$(curl -fsS --max-time 5 "http://127.0.0.1:$((BASE_PORT + 100 + n))/metrics" |
		awk '/^httpdns_upstream_queries_total\{/ {s += $2} END {print s + 0}') || upstream="?"
	printf '  node%s 127.0.0.1:%s: %3d requests, %2d cells, %2d upstream queries\n' \
		"$n" $((BASE_PORT + n)) "${NODE_REQS[node$n]:-0}" "${NODE_CELLS[node$n]:-0}" "$upstream"
done

# --- consistent: stop node2; only its cells may move ------------------------------------------------
kill -TERM "$NODE2_PID" 2>/dev/null || true
for _ in $(seq 100); do kill -0 "$NODE2_PID" 2>/dev/null || break; sleep 0.1; done
MOVED=0 STRAYED=0
declare -A DEST
for r in "${!ROW_HOST[@]}"; do
	before=${CELL_NODES[r]:-none}
	if [[ $before == *" "* ]]; then continue; fi # already on several nodes: counted above
	ask "$r" "$REPEAT"
	[[ $CODE == 200 ]] || { FAILED=$((FAILED + 1)); continue; }
	if [[ $before == node2 ]]; then
		MOVED=$((MOVED + 1)) DEST[$NODE]=$((${DEST[$NODE]:-0} + 1))
	elif [[ $NODE != "$before" ]]; then
		STRAYED=$((STRAYED + 1))
		echo "  ${ROW_SUBNET[r]} ${ROW_HOST[r]}: moved from $before to $NODE although $before is up" >&2
	fi
done
echo
echo "node2 stopped: its $MOVED cells moved (to node1: ${DEST[node1]:-0}, to node3: ${DEST[node3]:-0});" \
	"$STRAYED of the other cells changed node"

echo
if ((SPLIT > 0 || FAILED > 0 || STRAYED > 0)); then
	echo "FAIL: $SPLIT cell(s) reached more than one node, $STRAYED moved off a live node, $FAILED request(s) failed"
	exit 1
fi
echo "OK: every (client subnet, host) was answered by exactly one node"
