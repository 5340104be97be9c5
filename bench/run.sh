#!/usr/bin/env bash
# Load comparison on loopback: wrk -> {nginx directly, HAProxy mode tcp, rampart} -> two nginx.
# See bench/README.md. Everything listens on and talks to 127.0.0.1 only.
#
# Env options:
#   DUR=10s        wrk duration of each run
#   R=3            repetitions of every (workload, target) pair; medians are reported
#   TARGETS="direct haproxy rampart"
#   THREADS="1 2"  HAProxy nbthread / rampart threads measured (best one reported)
#   WORKLOADS="keepalive close big"
#   MEMORY=1       run the idle-connection memory test (0 to skip)
#   IDLE_CONNS=10000  idle connections for the memory test (lowered if the fd limit is too small)
#   IDLE_HOLD=3    seconds the idle connections are held before RSS is read again
#   RAMPART=target/release/rampart   binary to test
#   BUILD=1        build it first (cargo build --release -p rampart); 0 to use RAMPART as is
#   OUT=bench/out  where results go (results.{json,md}, raw wrk outputs, proxy logs)
#   RAMPART_BASE=  a second rampart binary, measured as target `rampart_base` (add it to
#                  TARGETS): e.g. the build before a change, to measure what the change costs
#   Target `rampart_scraped`: the same binary as `rampart`, with `[admin]` on and /metrics
#                  scraped once a second during its runs (what counters and a scrape cost)
#   PERF=0         1: perf-record rampart during each run (haproxy: HAProxy, all: both); the top
#                  symbols go to OUT/raw-*/perf.*.txt. Costs throughput: for diagnosis, not numbers.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
DUR=${DUR:-10s}
R=${R:-3}
TARGETS=${TARGETS:-direct haproxy rampart}
THREADS=${THREADS:-1 2}
WORKLOADS=${WORKLOADS-keepalive close big}
MEMORY=${MEMORY:-1}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_HOLD=${IDLE_HOLD:-3}
RAMPART=${RAMPART:-$ROOT/target/release/rampart}
RAMPART_BASE=${RAMPART_BASE:-}
BUILD=${BUILD:-1}
OUT=${OUT:-$HERE/out}
PERF=${PERF:-0}

ADDR=127.0.0.1           # the only address this script ever uses
WEB_PORTS=(18081 18082)  # nginx backends web1, web2
rampart_port() { echo $((18089 + $1)); }   # threads=1 -> 18090, threads=2 -> 18091
base_port() { echo $((18109 + $1)); }      # rampart_base: 18110, 18111
scraped_port() { echo $((18119 + $1)); }   # rampart_scraped: 18120, 18121; its [admin] +10
haproxy_port() { echo $((18094 + $1)); }   # nbthread=1 -> 18095, nbthread=2 -> 18096

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "error: $*"; exit 1; }

has_target() { [[ " $TARGETS " == *" $1 "* ]]; }

# ---------------------------------------------------------------- preflight
missing=()
for tool in wrk nginx curl python3 ss pgrep; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if has_target haproxy; then command -v haproxy >/dev/null 2>&1 || missing+=(haproxy); fi
if ((${#missing[@]})); then
    die "missing: ${missing[*]}
  install with:  sudo apt-get install -y wrk haproxy nginx curl python3 iproute2 procps"
fi
[[ $R =~ ^[1-9][0-9]*$ ]] || die "R must be a positive integer (got '$R')"
for t in $TARGETS; do [[ $t =~ ^(direct|haproxy|rampart|rampart_base|rampart_scraped)$ ]] || die "unknown target '$t' in TARGETS"; done
if has_target rampart_base; then [[ -x $RAMPART_BASE ]] || die "TARGETS has rampart_base: set RAMPART_BASE to a rampart binary"; fi
for w in $WORKLOADS; do [[ $w =~ ^(keepalive|close|big)$ ]] || die "unknown workload '$w' in WORKLOADS"; done
for n in $THREADS; do [[ $n =~ ^[1-4]$ ]] || die "THREADS entries must be 1..4 (got '$n')"; done

case $DUR in
    *s) dur_s=${DUR%s} ;; *m) dur_s=$((${DUR%m} * 60)) ;; *h) dur_s=$((${DUR%h} * 3600)) ;; *) dur_s=$DUR ;;
esac
[[ $dur_s =~ ^[0-9]+$ ]] || die "DUR must look like 10s, 1m or 10 (got '$DUR')"

# Open-file limit: the proxies hold two descriptors per proxied connection
# (client side + server side), nginx one. Raise the soft limit as far as the
# hard limit allows; children (nginx, HAProxy, rampart, wrk) inherit it.
ulimit -n 100000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FDLIM=$(ulimit -n)
[[ $FDLIM == unlimited ]] && FDLIM=1048576
IDLE_N=$IDLE_CONNS
max_idle=$(((FDLIM - 300) / 2))
if ((IDLE_N > max_idle)); then
    log "warning: open-file limit is $FDLIM (hard $(ulimit -Hn)); a proxy needs ~2 fds per connection,"
    log "         so the idle-connection test uses $max_idle connections instead of $IDLE_N"
    IDLE_N=$max_idle
fi

for p in "${WEB_PORTS[@]}" $(for n in $THREADS; do rampart_port "$n"; haproxy_port "$n"; base_port "$n"; scraped_port "$n"; done); do
    if ss -Hltn "sport = :$p" | grep -q .; then die "port $p is already in use on this machine"; fi
done

if has_target rampart || has_target rampart_scraped; then
    if [[ $BUILD == 1 ]]; then
        log "building rampart (release)"
        (cd "$ROOT" && cargo build --release -p rampart --target-dir "$ROOT/target") ||
            die "rampart does not build; fix it or run with TARGETS='direct haproxy'"
    fi
    [[ -x $RAMPART ]] || die "no rampart binary at $RAMPART (BUILD=1 builds it)"
fi

# ---------------------------------------------------------------- temp dir & cleanup
TMP=$(mktemp -d /tmp/rampart-bench.XXXXXX)
chmod 755 "$TMP"   # nginx workers may run as nobody and must read the docroot
declare -A PROC    # name -> pid of every process started here
RUN_ID=$(date +%Y%m%d-%H%M%S)
RAW="$OUT/raw-$RUN_ID"
mkdir -p "$RAW"

stop_pid() { # pid: TERM, wait up to 5 s, then KILL (the pid and its children)
    local pid=$1 kids i
    kill -0 "$pid" 2>/dev/null || return 0
    kids=$(pgrep -P "$pid" || true)
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    for k in $kids; do kill -0 "$k" 2>/dev/null && kill -KILL "$k" 2>/dev/null || true; done
    wait "$pid" 2>/dev/null || true
}

stop_proc() { # name
    local pid=${PROC[$1]:-}
    [[ -n $pid ]] && stop_pid "$pid"
    unset "PROC[$1]"
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    for name in "${!PROC[@]}"; do stop_pid "${PROC[$name]}"; done
    if [[ -d $TMP ]]; then
        mkdir -p "$RAW/logs"
        cp "$TMP"/*.log "$TMP"/*.cfg "$TMP"/*.toml "$RAW/logs/" 2>/dev/null || true
        for i in 1 2; do cp "$TMP/nginx$i/error.log" "$RAW/logs/nginx$i-error.log" 2>/dev/null || true; done
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A private copy of the binary: a concurrent `cargo build` cannot swap it mid-run.
if has_target rampart || has_target rampart_scraped; then
    cp "$RAMPART" "$TMP/rampart"
    RAMPART_BIN="$TMP/rampart"
fi
if has_target rampart_base; then
    cp "$RAMPART_BASE" "$TMP/rampart_base"
fi

# ---------------------------------------------------------------- helpers
pids_of() { # name -> the process and its direct children (rampart: supervisor + worker)
    local pid=${PROC[$1]:-}
    [[ -n $pid ]] || return 0
    echo "$pid"
    pgrep -P "$pid" || true
}

cpu_ticks() { # pids... -> utime+stime summed, in clock ticks
    local total=0 p s
    for p in "$@"; do
        s=$(cat "/proc/$p/stat" 2>/dev/null) || continue
        s=${s##*) }
        # shellcheck disable=SC2086
        set -- $s
        total=$((total + ${12} + ${13}))
    done
    echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)

alive() { local pid=${PROC[$1]:-}; [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; }

wait_port() { # port timeout_s
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        if (exec 3<>"/dev/tcp/$ADDR/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

# Both backends answer through the proxy: each nginx serves /id.txt with its
# own name, so seeing web1 and web2 means both servers are up (and balanced).
wait_both_backends() { # port timeout_s name
    local port=$1 deadline=$((SECONDS + $2)) seen1=0 seen2=0 body
    while ((SECONDS < deadline)); do
        body=$(curl -s --max-time 1 "http://$ADDR:$port/id.txt" || true)
        [[ $body == web1 ]] && seen1=1
        [[ $body == web2 ]] && seen2=1
        ((seen1 && seen2)) && return 0
        alive "$3" || return 1
        sleep 0.2
    done
    return 1
}

# ---------------------------------------------------------------- nginx backends
WWW_CONNS=$((FDLIM < 20000 ? FDLIM - 100 : 20000))
start_nginx() { # index (1|2)
    local i=$1 port=${WEB_PORTS[$(($1 - 1))]} d="$TMP/nginx$1"
    mkdir -p "$d/www" "$d/tmp"
    chmod 755 "$d" "$d/www"
    printf 'web%s' "$i" >"$d/www/id.txt"
    # 100-byte body (99 characters + newline), different per server, same size.
    printf '%s\n' "$(printf "web$i-%.0s" {1..20} | head -c 99)" >"$d/www/small.txt"
    head -c $((1024 * 1024)) /dev/zero | tr '\0' "$i" >"$d/www/big.bin"
    chmod 644 "$d/www"/*
    cat >"$d/nginx.conf" <<EOF
# web$i: one worker (one core's worth), like a small backend.
worker_processes 1;
worker_rlimit_nofile $FDLIM;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events {
    worker_connections $WWW_CONNS;
}
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 75s;
    keepalive_requests 1000000;   # keep-alive workload: never recycle connections
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    default_type application/octet-stream;
    server {
        listen $ADDR:$port backlog=4096;
        root $d/www;
    }
}
EOF
    nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" >"$d/stdout.log" 2>&1 &
    PROC[nginx$i]=$!
    wait_port "$port" 10 || { cat "$d/error.log" >&2 || true; die "nginx web$i did not start on $ADDR:$port"; }
}

# ---------------------------------------------------------------- proxies
start_haproxy() { # nbthread
    local n=$1 port name cfg maxconn
    port=$(haproxy_port "$n")
    name=haproxy-t$n
    cfg="$TMP/$name.cfg"
    # Two fds per proxied connection; stay inside the open-file limit.
    maxconn=$(((FDLIM - 200) / 2))
    cat >"$cfg" <<EOF
global
    nbthread $n
    maxconn $maxconn
    # no log line: no logging

defaults
    mode tcp
    timeout connect 5s
    timeout client 50s
    timeout server 50s

frontend www
    bind $ADDR:$port
    maxconn $maxconn
    default_backend pool

backend pool
    balance roundrobin
    server web1 $ADDR:${WEB_PORTS[0]} check
    server web2 $ADDR:${WEB_PORTS[1]} check
EOF
    haproxy -c -q -f "$cfg" || die "generated HAProxy config is invalid: $cfg"
    haproxy -db -f "$cfg" >"$TMP/$name.log" 2>&1 &
    PROC[$name]=$!
    wait_port "$port" 10 && wait_both_backends "$port" 15 "$name" ||
        { cat "$TMP/$name.log" >&2; die "$name did not become ready on $ADDR:$port"; }
}

start_rampart() { # threads [flavour: rampart (default), rampart_base, rampart_scraped]
    local n=$1 flavour=${2:-rampart} port name cfg bin=${RAMPART_BIN:-} admin=
    case $flavour in
        rampart) port=$(rampart_port "$n") ;;
        rampart_base) port=$(base_port "$n"); bin=$TMP/rampart_base ;;
        rampart_scraped) port=$(scraped_port "$n")
            admin="[admin]
listen = \"$ADDR:$((port + 10))\"" ;;
    esac
    name=$flavour-t$n
    cfg="$TMP/$name.toml"
    cat >"$cfg" <<EOF
[global]
threads = $n
log_level = "warn"

[[frontend]]
name = "www"
bind = ["$ADDR:$port"]
backend = "pool"
maxconn = 20000

[[backend]]
name = "pool"
balance = "roundrobin"
health = { check = "tcp", interval = "2s" }
servers = [
  { name = "web1", addr = "$ADDR:${WEB_PORTS[0]}" },
  { name = "web2", addr = "$ADDR:${WEB_PORTS[1]}" },
]

$admin
EOF
    # Its own runtime directory: not the host's /run/rampart, and one per variant.
    "$bin" run -c "$cfg" --runtime-dir "$TMP/$name.run" >>"$TMP/$name.log" 2>&1 &
    PROC[$name]=$!
    wait_port "$port" 15 && wait_both_backends "$port" 20 "$name" ||
        { cat "$TMP/$name.log" >&2; die "$name did not become ready on $ADDR:$port (both servers healthy)"; }
}

start_variant() { # variant
    case $1 in
        direct) ;;
        haproxy-t*) start_haproxy "${1#haproxy-t}" ;;
        rampart-t*) start_rampart "${1#rampart-t}" ;;
        rampart_base-t*) start_rampart "${1#rampart_base-t}" rampart_base ;;
        rampart_scraped-t*) start_rampart "${1#rampart_scraped-t}" rampart_scraped ;;
    esac
}

variant_port() {
    case $1 in
        haproxy-t*) haproxy_port "${1#haproxy-t}" ;;
        rampart-t*) rampart_port "${1#rampart-t}" ;;
        rampart_base-t*) base_port "${1#rampart_base-t}" ;;
        rampart_scraped-t*) scraped_port "${1#rampart_scraped-t}" ;;
        *) echo "${WEB_PORTS[0]}" ;;
    esac
}

# ---------------------------------------------------------------- workloads
wrk_args() { # workload -> wrk options and URL path
    case $1 in
        keepalive) echo "-c50 /small.txt" ;;
        close) echo "-c50 /small.txt close" ;;
        big) echo "-c4 /big.bin" ;;
    esac
}

tcp_out_segs() { # the host's TcpOutSegs counter (empty without nstat)
    nstat -az TcpOutSegs 2>/dev/null | awk '$1 == "TcpOutSegs" {print $2}'
}

run_one() { # rep workload variant
    local rep=$1 wl=$2 var=$3 port conns path close target threads out
    read -r conns path close <<<"$(wrk_args "$wl")"
    port=$(variant_port "$var")
    target=${var%%-t*}
    threads=null
    [[ $var == *-t* ]] && threads=${var##*-t}
    out="$RAW/$wl.$var.r$rep.txt"

    local restarted=false
    if [[ $target != direct ]] && ! alive "$var"; then
        log "  $var is not running any more: restarting it (see its log)"
        restarted=true
        start_variant "$var"
    fi
    local pids worker_before worker_after c0 c1 cpu=null ok=true
    # shellcheck disable=SC2207
    pids=($(pids_of "$var"))
    worker_before=$(pgrep -P "${PROC[$var]:-0}" 2>/dev/null | tr '\n' ' ' || true)
    ((${#pids[@]})) && c0=$(cpu_ticks "${pids[@]}")
    # TCP segments sent on this host during the run (every side: wrk, proxy,
    # nginx): what a proxy adds per request, deterministic where req/s is noisy.
    local s0 s1 segs=null
    s0=$(tcp_out_segs)

    local args=(-t2 "$conns" -d"$DUR" --latency --timeout 5s)
    [[ $close == close ]] && args+=(-H 'Connection: close')
    [[ $target == direct ]] && args+=(-s "$HERE/direct.lua")
    local perf_pid=
    if [[ -n $PERF && $PERF != 0 && $target != direct ]] && [[ $PERF == all || $PERF == 1 && $target == rampart || $PERF == "$target" ]]; then
        # Profile the proxy's processes during the run (diagnosis only: perf costs some throughput).
        perf record -q -e cpu-clock -F 999 -g -p "$(IFS=,; echo "${pids[*]}")" \
            -o "$RAW/perf.$wl.$var.r$rep.data" -- sleep "$dur_s" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    local scraper=
    if [[ $target == rampart_scraped ]]; then
        # What a Prometheus server does: /metrics once a second.
        (while :; do curl -s -o /dev/null "http://$ADDR:$((port + 10))/metrics"; sleep 1; done) &
        scraper=$!
    fi
    timeout $((dur_s + 60)) wrk "${args[@]}" "http://$ADDR:$port$path" >"$out" 2>&1 || ok=false
    if [[ -n $scraper ]]; then kill "$scraper" 2>/dev/null; wait "$scraper" 2>/dev/null || true; fi
    if [[ -n $perf_pid ]]; then
        wait "$perf_pid" 2>/dev/null || true
        perf report -i "$RAW/perf.$wl.$var.r$rep.data" --stdio --no-children --sort dso,sym 2>/dev/null |
            grep -E '^ +[0-9]' | head -40 >"$RAW/perf.$wl.$var.r$rep.txt" || true
    fi

    s1=$(tcp_out_segs)
    [[ -n $s0 && -n $s1 ]] && segs=$((s1 - s0))
    if ((${#pids[@]})); then
        c1=$(cpu_ticks "${pids[@]}")
        cpu=$(python3 -c "print(round(($c1 - $c0) / $CLK_TCK, 3))")
    fi
    local is_alive=true
    if [[ $target != direct ]]; then
        alive "$var" || is_alive=false
        worker_after=$(pgrep -P "${PROC[$var]:-0}" 2>/dev/null | tr '\n' ' ' || true)
        if [[ $is_alive == true && $worker_before != "$worker_after" ]]; then
            log "  $var: worker process changed during the run ($worker_before-> $worker_after): it crashed?"
            is_alive=false
        fi
    fi
    local rps
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    log "  r$rep $wl $var: ${rps:-no result} req/s$([[ $cpu == null ]] || echo ", proxy cpu ${cpu}s")$([[ $ok == true ]] || echo ' (wrk failed)')$([[ $is_alive == true ]] || echo ' PROXY DIED/RESTARTED')"
    printf '{"workload":"%s","target":"%s","variant":"%s","threads":%s,"rep":%s,"wrk":"%s","cpu_s":%s,"segs":%s,"alive":%s,"restarted_before":%s,"wrk_ok":%s}\n' \
        "$wl" "$target" "$var" "$threads" "$rep" "$out" "$cpu" "$segs" "$is_alive" "$restarted" "$ok" >>"$RAW/runs.jsonl"
}

# ---------------------------------------------------------------- main
VARIANTS=()
has_target direct && VARIANTS+=(direct)
for t in haproxy rampart rampart_base rampart_scraped; do
    if has_target "$t"; then for n in $THREADS; do VARIANTS+=("$t-t$n"); done; fi
done
((${#VARIANTS[@]})) || die "TARGETS selects nothing"

python3 - "$RAW/meta.json" <<EOF
import json, os, sys, datetime, subprocess
def v(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except Exception:
        return None
json.dump({
    "dur": "$DUR", "reps": $R, "targets": "$TARGETS", "threads": "$THREADS",
    "workloads": "$WORKLOADS", "variants": "${VARIANTS[*]}",
    "cpus": os.cpu_count(), "nofile": $FDLIM, "idle_conns": $IDLE_N,
    "date": datetime.datetime.now().isoformat(timespec="seconds"),
    "haproxy": v(["haproxy", "-v"]), "nginx": v(["nginx", "-v"]), "wrk": v(["wrk", "-v"]),
    "rampart": "$RAMPART",
}, open(sys.argv[1], "w"), indent=2)
EOF

log "temp dir $TMP, results in $RAW; nofile $FDLIM; DUR=$DUR R=$R variants: ${VARIANTS[*]}"
start_nginx 1
start_nginx 2
log "nginx web1 on $ADDR:${WEB_PORTS[0]}, web2 on $ADDR:${WEB_PORTS[1]}"
for v in "${VARIANTS[@]}"; do
    [[ $v == direct ]] && continue
    start_variant "$v"
    log "$v ready on $ADDR:$(variant_port "$v")"
done

# Warm-up: a short keep-alive run through every variant (page cache, lazy allocations).
for v in "${VARIANTS[@]}"; do
    wrkargs=(-t2 -c50 -d2s)
    [[ $v == direct ]] && wrkargs+=(-s "$HERE/direct.lua")
    wrk "${wrkargs[@]}" "http://$ADDR:$(variant_port "$v")/small.txt" >/dev/null 2>&1 || true
done

nvar=${#VARIANTS[@]}
for ((rep = 1; rep <= R; rep++)); do
    log "repetition $rep/$R"
    k=0
    for wl in $WORKLOADS; do
        # Rotate the order of the targets every round so drift and noise hit all of them.
        for ((j = 0; j < nvar; j++)); do
            v=${VARIANTS[$(((j + rep - 1 + k) % nvar))]}
            run_one "$rep" "$wl" "$v"
            sleep 1
        done
        k=$((k + 1))
    done
done

# ---------------------------------------------------------------- memory: idle connections
if [[ $MEMORY == 1 ]]; then
    log "memory: $IDLE_N idle connections per proxy, held ${IDLE_HOLD}s"
    for v in "${VARIANTS[@]}"; do
        [[ $v == direct ]] && continue
        # A fresh process, so earlier load (buffer pools, caches) does not hide the growth.
        stop_proc "$v"
        sleep 1
        start_variant "$v"
        sleep 1
        pids=$(pids_of "$v" | paste -sd, -)
        port=$(variant_port "$v")
        res=$(python3 "$HERE/idle_conns.py" --port "$port" --n "$IDLE_N" --hold "$IDLE_HOLD" --pids "$pids" \
            --backend-ports "${WEB_PORTS[0]},${WEB_PORTS[1]}") || res='{"error": "idle_conns.py failed"}'
        alive "$v" || res=${res%\}}', "error": "proxy died during the test"}'
        python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(target=sys.argv[2], variant=sys.argv[3], threads=int(sys.argv[4])); print(json.dumps(d))' \
            "$res" "${v%%-t*}" "$v" "${v##*-t}" >>"$RAW/memory.jsonl"
        log "  $v: $res"
        stop_proc "$v"
        sleep 2
    done
fi

# ---------------------------------------------------------------- report
python3 "$HERE/report.py" "$RAW/runs.jsonl" "$RAW/memory.jsonl" | tee "$RAW/table.txt"
cp "$RAW/results.json" "$RAW/results.md" "$RAW/table.txt" "$OUT/" 2>/dev/null || true
log "raw wrk outputs and logs: $RAW; summary: $OUT/results.md, $OUT/results.json"
