# shellcheck shell=bash
# Shared by bench/ns.sh and bench/ns_failover.sh (sourced, not run):
# namespaces and processes that are always torn down, and the nginx backends.
#
# The caller sets LOG_TAG and TMP, declares `declare -A PROC` and
# `NAMESPACES=()`, and calls ns_teardown from its EXIT trap.

log() { printf '[%s %(%H:%M:%S)T] %s\n' "${LOG_TAG:-ns}" -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# ---------------------------------------------------------------- processes
stop_pid() { # pid: TERM, wait up to 5 s, then KILL (the pid and its children)
    local pid=$1 kids i k
    kill -0 "$pid" 2>/dev/null || return 0
    kids=$(pgrep -P "$pid" || true)
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    for k in $kids; do kill -KILL "$k" 2>/dev/null || true; done
    wait "$pid" 2>/dev/null || true
}

stop_proc() { # name
    local pid=${PROC[$1]:-}
    [[ -n $pid ]] && stop_pid "$pid"
    unset "PROC[$1]"
}

alive() { local pid=${PROC[$1]:-}; [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; }

# ---------------------------------------------------------------- namespaces
add_ns() { # name: a namespace with lo up, recorded for deletion
    ip netns add "$1"
    NAMESPACES+=("$1")
    ip -n "$1" link set lo up
}

# veth pair: ifname $2 in namespace $1 <-> ifname $4 in namespace $3, made
# directly inside the namespaces, so no name is ever taken on the host.
veth() { ip -n "$1" link add "$2" type veth peer name "$4" netns "$3"; }

# Stops every process started here (by pid), then anything left inside our
# own namespaces (an nginx worker whose master died: it was started from
# here too), then deletes the namespaces (their veths go with them).
ns_teardown() {
    local name ns pid
    for name in "${!PROC[@]}"; do stop_pid "${PROC[$name]}"; done
    PROC=()
    for ns in "${NAMESPACES[@]}"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    done
    for ns in "${NAMESPACES[@]}"; do
        ip netns del "$ns" 2>/dev/null || log "could not delete namespace $ns"
    done
    NAMESPACES=()
}

# ---------------------------------------------------------------- nginx
# start_nginx NS INDEX PORT... : nginx `web<INDEX>` in namespace NS, one
# worker, access_log off, listening on every PORT; serves /small.txt
# (100 B), /big.bin (1 MiB) and /id.txt (`web<INDEX>`), every answer with
# the header `X-Web: web<INDEX>`. Its files live in $TMP/nginx<INDEX>.
start_nginx() {
    local ns=$1 i=$2 d="$TMP/nginx$2" listen='' port
    shift 2
    for port in "$@"; do listen+="        listen $port backlog=4096;"$'\n'; done
    mkdir -p "$d/www" "$d/tmp"
    chmod 755 "$TMP" "$d" "$d/www"   # the worker runs as nobody and reads the docroot
    printf 'web%s' "$i" >"$d/www/id.txt"
    # 100-byte body (99 characters + newline), different per server, same size.
    printf '%s\n' "$(printf "web$i-%.0s" {1..20} | head -c 99)" >"$d/www/small.txt"
    head -c $((1024 * 1024)) /dev/zero | tr '\0' "$i" >"$d/www/big.bin"
    chmod 644 "$d/www"/*
    cat >"$d/nginx.conf" <<EOF
# web$i: one worker (one core's worth), like a small backend.
worker_processes 1;
worker_rlimit_nofile ${FDLIM:-20000};
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events {
    worker_connections 20000;
}
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 75s;
    keepalive_requests 1000000;   # keep-alive workloads: never recycle connections
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    default_type application/octet-stream;
    server {
$listen        root $d/www;
        add_header X-Web web$i always;
    }
}
EOF
    in_ns "$ns" nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" >"$d/stdout.log" 2>&1 &
    PROC["nginx$i"]=$!
}

# wait_http NS URL BODY TIMEOUT_S: curl from NS until URL answers BODY.
wait_http() {
    local deadline=$((SECONDS + $4)) body
    while ((SECONDS < deadline)); do
        body=$(in_ns "$1" curl -s --max-time 1 "$2" || true)
        [[ $body == "$3" ]] && return 0
        sleep 0.1
    done
    return 1
}
