# Shell shared by the loopback examples (deploy/nginx/run.sh, deploy/fleet/run.sh); sourced, not run:
#
#   . "$HERE/../lib.sh"
#
# The script sets ROOT (the checkout), BASE_PORT, NGINX_PORT, DNS_PORT and WAIT (seconds any one thing may
# take to come up) before it calls these; use_tmp sets TMP and PIDS.

die() { echo "run.sh: $*" >&2; exit 1; }

# find_or_install BINARY PACKAGE: the binary's path (/usr/sbin and /usr/bin looked at too: not on
# every user's PATH), installed with apt-get if missing and we are root.
find_or_install() {
	local bin=$1 pkg=$2 path
	path=$(command -v "$bin" || true)
	for dir in /usr/sbin /usr/bin; do
		if [[ -z $path && -x $dir/$bin ]]; then path=$dir/$bin; fi
	done
	if [[ -z $path ]]; then
		[[ $(id -u) -eq 0 ]] || die "$bin is not installed and we are not root: sudo apt-get install -y $pkg"
		echo "installing $pkg (apt-get install -y $pkg)" >&2
		export DEBIAN_FRONTEND=noninteractive
		timeout 600 apt-get install -y "$pkg" >/dev/null ||
			{ timeout 600 apt-get update >/dev/null && timeout 600 apt-get install -y "$pkg" >/dev/null; } ||
			die "apt-get install $pkg failed"
		path=$(command -v "$bin" || echo "/usr/sbin/$bin")
		[[ -x $path ]] || path=/usr/bin/$bin
	fi
	echo "$path"
}

# need_build_tools: curl (every check is a request) and go (the binaries are built from ROOT).
need_build_tools() {
	command -v curl >/dev/null || die "curl is needed: apt-get install -y curl"
	command -v go >/dev/null || die "go is needed to build httpdns"
}

# ports_free PORT...: dies unless every PORT on 127.0.0.1 is free.
ports_free() {
	local p
	for p in "$@"; do
		if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			die "port $p on 127.0.0.1 is in use; set BASE_PORT to another range"
		fi
	done
}

# --- cleanup: stop what we started, newest first, then remove the directory ------------------------

# use_tmp NAME: a temporary directory TMP (kept with KEEP=1) and PIDS, the processes started in it,
# stopped on exit.
use_tmp() {
	TMP=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	PIDS=()
	trap cleanup EXIT
	trap 'exit 130' INT TERM
}

# stop_pid PID: SIGTERM, up to 5 s to exit, then SIGKILL.
stop_pid() {
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	local i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
	if [[ ${KEEP:-0} == 1 ]]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}

# wait_for DESC PID LOG CMD...: run CMD until it succeeds, at most WAIT seconds, while PID lives.
wait_for() {
	local desc=$1 pid=$2 log=$3 deadline=$((SECONDS + WAIT))
	shift 3
	until "$@" >/dev/null 2>&1; do
		kill -0 "$pid" 2>/dev/null || { tail -n 20 "$log" >&2; die "$desc exited"; }
		((SECONDS < deadline)) || { tail -n 20 "$log" >&2; die "$desc not ready within ${WAIT}s"; }
		sleep 0.1
	done
}

# build_binaries: httpdns and cdnsim built from ROOT into $TMP/bin.
build_binaries() {
	echo "building httpdns and cdnsim into $TMP/bin"
	(cd "$ROOT" && timeout 300 go build -o "$TMP/bin/httpdns" ./cmd/httpdns &&
		timeout 300 go build -o "$TMP/bin/cdnsim" ./internal/cdnsim/cmd/cdnsim) || die "build failed"
}

# start_cdnsim [ARG...]: the simulated CDN world (its authoritative DNS on DNS_PORT, its files in
# $TMP/world), with cdnsim's extra ARGs.
start_cdnsim() {
	"$TMP/bin/cdnsim" -listen "127.0.0.1:$DNS_PORT" -dir "$TMP/world" "$@" >"$TMP/cdnsim.log" 2>&1 &
	PIDS+=($!)
	wait_for "cdnsim" "$!" "$TMP/cdnsim.log" grep -q "serving zone" "$TMP/cdnsim.log"
	echo "world: authoritative DNS for test. on 127.0.0.1:$DNS_PORT"
}

# --- nginx: a snippet rendered into a main config of our own, run in the foreground ----------------

# start_nginx NGINX SNIPPET: renders SNIPPET (deploy/nginx/httpdns.conf or a variant of it) for nginx
# on NGINX_PORT in front of the nodes on BASE_PORT+1..+3, starts the binary NGINX on it, and waits
# until a node answers /readyz through it.
start_nginx() {
	local nginx=$1 snippet=$2 args
	mkdir -p "$TMP/nginx/logs" "$TMP/nginx/tmp"
	sed -e "s|@LISTEN@|127.0.0.1:$NGINX_PORT|" -e "s|@LOGDIR@|$TMP/nginx/logs|" \
		-e "s|@NODE1@|127.0.0.1:$((BASE_PORT + 1))|" -e "s|@NODE2@|127.0.0.1:$((BASE_PORT + 2))|" \
		-e "s|@NODE3@|127.0.0.1:$((BASE_PORT + 3))|" "$snippet" >"$TMP/nginx/httpdns.conf"
	cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/tmp/body;
    proxy_temp_path $TMP/nginx/tmp/proxy;
    fastcgi_temp_path $TMP/nginx/tmp/fastcgi;
    uwsgi_temp_path $TMP/nginx/tmp/uwsgi;
    scgi_temp_path $TMP/nginx/tmp/scgi;
    include $TMP/nginx/httpdns.conf;
}
EOF
	args=(-p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/logs/error.log")
	"$nginx" -t -q "${args[@]}" || die "nginx rejected the config"
	"$nginx" "${args[@]}" -g "daemon off;" >"$TMP/nginx/logs/stdout.log" 2>&1 &
	PIDS+=($!)
	wait_for "nginx" "$!" "$TMP/nginx/logs/error.log" curl -fsS --max-time 1 "http://127.0.0.1:$NGINX_PORT/readyz"
}
