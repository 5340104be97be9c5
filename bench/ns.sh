#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Load comparison in network namespaces, in the deployment guide's shape:
#
#   client ──► lb (VIP, ip_forward, the webs' default route) ──► web1, web2 (nginx)
#
# Targets: direct (routed through lb, no balancing), HAProxy mode tcp, rampart
# proxy mode, rampart NAT mode (when the binary has `mode = "nat"`), and a bare
# stateful nftables dnat (conntrack), and the barest stateless rewrite (nat-bare:
# what rampart-nat's own rules — pins, counters, health — cost on top of
# rewriting addresses in the kernel). See bench/README.md, "Namespaces".
# Needs root. Traffic goes only to addresses inside the namespaces made here.
#
# Env options:
#   DUR=10s       wrk duration of each run          QUICK=1: DUR=4s R=2 unless set
#   R=3           rounds; every target once per round and workload; medians reported
#   TARGETS="direct haproxy rampart-proxy rampart-nat dnat-conntrack"   (also: nat-bare)
#   THREADS="1 2" HAProxy nbthread / rampart threads (proxy mode; best one reported)
#   WORKLOADS="keepalive close big"
#   RAMPART=target/release/rampart   BUILD=1 builds it first (0: use it as it is)
#   OUT=bench/out  results: ns-results.{json,md}, ns-table.txt, raw-ns-<date>/
#   KEEP=0        1: on exit, wait for Enter before tearing down (to look around)
set -euo pipefail
{ # read whole before it runs: editing this file mid-run cannot change the run

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
if [[ ${QUICK:-0} == 1 ]]; then DUR=${DUR:-4s}; R=${R:-2}; fi
DUR=${DUR:-10s}
R=${R:-3}
TARGETS_SET=${TARGETS+set}
TARGETS=${TARGETS:-direct haproxy rampart-proxy rampart-nat dnat-conntrack}
THREADS=${THREADS:-1 2}
WORKLOADS=${WORKLOADS-keepalive close big}
RAMPART=${RAMPART:-$ROOT/target/release/rampart}
BUILD=${BUILD:-1}
OUT=${OUT:-$HERE/out}
KEEP=${KEEP:-0}

# ---------------------------------------------------------------- addresses
# Every address below exists only inside the namespaces this script creates.
P=rbn$$                      # namespace prefix: rbn<pid>-client, -lb, -web1, -web2
NS_CLIENT=$P-client NS_LB=$P-lb NS_WEB1=$P-web1 NS_WEB2=$P-web2
CLIENT_IP=10.77.0.2          # client eth0 10.77.0.2/24, default via 10.77.0.1
LB_PUB=10.77.0.1             # lb eth0 10.77.0.1/24
VIP=10.77.0.100              # lb eth0, /32: the frontends' address
LB_PRIV=10.77.1.1            # lb br0 10.77.1.1/24: the webs' default route
WEB_IPS=(10.77.1.11 10.77.1.12)
WEB_PORT=80                  # what the proxies and rampart-nat send to
DNAT_WEB_PORT=81             # what dnat-conntrack sends to: rampart-nat's table notracks every
                             # forwarded reply from web:80 (it matches replies by server
                             # address and port), which would hide dnat's replies from conntrack
DIRECT_PORT=8080             # what direct sends to: other tuples than the NATs' (PAWS, see README)
haproxy_port() { echo $((8100 + $1)); }        # 8101, 8102
rampart_port() { echo $((8200 + $1)); }        # 8201, 8202
NAT_PORT=8300
DNAT_PORT=8400
DNAT_TABLE=rbench_dnat
BARE_WEB_PORT=82             # what nat-bare sends to (its replies matched by this port)
BARE_PORT=8500
BARE_TABLE=rbench_bare

LOG_TAG="ns-bench"
# shellcheck source=ns_lib.sh
. "$HERE/ns_lib.sh"
has_target() { [[ " $TARGETS " == *" $1 "* ]]; }

# ---------------------------------------------------------------- preflight
((EUID == 0)) || die "needs root (network namespaces)"
missing=()
for tool in ip nft wrk nginx curl python3 pgrep; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if has_target haproxy; then command -v haproxy >/dev/null 2>&1 || missing+=(haproxy); fi
if ((${#missing[@]})); then
    die "missing: ${missing[*]}
  install with:  apt-get install -y wrk haproxy nginx curl python3 iproute2 nftables conntrack procps"
fi
[[ $R =~ ^[1-9][0-9]*$ ]] || die "R must be a positive integer (got '$R')"
for t in $TARGETS; do
    [[ $t =~ ^(direct|haproxy|rampart-proxy|rampart-nat|dnat-conntrack|nat-bare)$ ]] || die "unknown target '$t' in TARGETS"
done
for w in $WORKLOADS; do [[ $w =~ ^(keepalive|close|big)$ ]] || die "unknown workload '$w' in WORKLOADS"; done
for n in $THREADS; do [[ $n =~ ^[1-4]$ ]] || die "THREADS entries must be 1..4 (got '$n')"; done
case $DUR in
    *s) dur_s=${DUR%s} ;; *m) dur_s=$((${DUR%m} * 60)) ;; *) dur_s=$DUR ;;
esac
[[ $dur_s =~ ^[0-9]+$ ]] || die "DUR must look like 10s, 1m or 10 (got '$DUR')"

ulimit -n 100000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FDLIM=$(ulimit -n)
[[ $FDLIM == unlimited ]] && FDLIM=1048576

if has_target rampart-proxy || has_target rampart-nat; then
    if [[ $BUILD == 1 ]]; then
        log "building rampart (release)"
        (cd "$ROOT" && cargo build --release -p rampart --target-dir "$ROOT/target") ||
            die "rampart does not build; fix it or run with TARGETS='direct haproxy dnat-conntrack'"
    fi
    [[ -x $RAMPART ]] || die "no rampart binary at $RAMPART (BUILD=1 builds it)"
fi

# ---------------------------------------------------------------- temp dir & cleanup
TMP=$(mktemp -d /tmp/rampart-nsbench.XXXXXX)
chmod 755 "$TMP"   # nginx workers run as nobody and must read the docroot
declare -A PROC    # name -> pid of every process started here
NAMESPACES=()      # every namespace created here, deleted on exit
RUN_ID=$(date +%Y%m%d-%H%M%S)
RAW="$OUT/raw-ns-$RUN_ID"
mkdir -p "$RAW"

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ $KEEP == 1 && -t 0 ]]; then
        log "KEEP=1: namespaces ${NAMESPACES[*]} are up; press Enter to tear down"
        read -r _ || true
    fi
    ns_teardown
    if [[ -d $TMP ]]; then
        mkdir -p "$RAW/logs"
        cp "$TMP"/*.log "$TMP"/*.cfg "$TMP"/*.toml "$TMP"/*.nft "$RAW/logs/" 2>/dev/null || true
        for i in 1 2; do cp "$TMP/nginx$i/error.log" "$RAW/logs/nginx$i-error.log" 2>/dev/null || true; done
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A private copy of the binary: a concurrent `cargo build` cannot swap it mid-run.
RAMPART_BIN=
if has_target rampart-proxy || has_target rampart-nat; then
    cp "$RAMPART" "$TMP/rampart"
    RAMPART_BIN=$TMP/rampart
fi

# ---------------------------------------------------------------- topology
build_topology() {
    add_ns "$NS_CLIENT"
    add_ns "$NS_LB"
    add_ns "$NS_WEB1"
    add_ns "$NS_WEB2"

    # public side: client eth0 <-> lb eth0
    veth "$NS_CLIENT" eth0 "$NS_LB" eth0
    ip -n "$NS_CLIENT" addr add "$CLIENT_IP/24" dev eth0
    ip -n "$NS_CLIENT" link set eth0 up
    ip -n "$NS_CLIENT" route add default via "$LB_PUB"
    ip -n "$NS_LB" addr add "$LB_PUB/24" dev eth0
    ip -n "$NS_LB" addr add "$VIP/32" dev eth0
    ip -n "$NS_LB" link set eth0 up

    # private side: a bridge in lb (10.77.1.1/24) with one veth per web
    ip -n "$NS_LB" link add br0 type bridge stp_state 0 forward_delay 0
    ip -n "$NS_LB" addr add "$LB_PRIV/24" dev br0
    ip -n "$NS_LB" link set br0 up
    local i ns
    for i in 1 2; do
        ns=$P-web$i
        veth "$NS_LB" "w$i" "$ns" eth0
        ip -n "$NS_LB" link set "w$i" master br0 up
        ip -n "$ns" addr add "${WEB_IPS[$((i - 1))]}/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" route add default via "$LB_PRIV"
    done
    in_ns "$NS_LB" sysctl -qw net.ipv4.ip_forward=1
    # Wide port range on the client and on lb (the proxies' upstream side):
    # the close workload opens tens of thousands of connections per run.
    in_ns "$NS_CLIENT" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
    in_ns "$NS_LB" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
}

# ---------------------------------------------------------------- helpers
proc_stat_cpu() { # -> "busy irq total" jiffies of the whole machine (all CPUs); irq = irq + softirq
    local _cpu user nice system idle iowait irq softirq steal _rest
    read -r _cpu user nice system idle iowait irq softirq steal _rest </proc/stat
    echo "$((user + nice + system + irq + softirq + steal)) $((irq + softirq)) $((user + nice + system + idle + iowait + irq + softirq + steal))"
}

# -> utime+stime (ticks) of every process now running in our namespaces,
# plus the kernel's ksoftirqd threads (softirq work deferred there is the
# packets' path, ours on an otherwise quiet network).
own_cpu_ticks() {
    local ns pid s total=0
    for pid in $(for ns in "${NAMESPACES[@]}"; do ip netns pids "$ns" 2>/dev/null; done) $(pgrep '^ksoftirqd/' || true); do
        s=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        s=${s##*) }
        # shellcheck disable=SC2086
        set -- $s
        total=$((total + ${12} + ${13}))
    done
    echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)

conntrack_count() { # entries in lb's conntrack table, or null when conntrack is not loaded
    in_ns "$NS_LB" cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo null
}

# Both backends answer through host:port: each nginx serves /id.txt with its
# own name. Through a NAT target each curl has a new source port, so the
# hash reaches both servers within a few tries.
wait_both_backends() { # host port timeout_s [proc name]
    local host=$1 port=$2 deadline=$((SECONDS + $3)) seen1=0 seen2=0 body
    while ((SECONDS < deadline)); do
        body=$(in_ns "$NS_CLIENT" curl -s --max-time 1 "http://$host:$port/id.txt" || true)
        [[ $body == web1 ]] && seen1=1
        [[ $body == web2 ]] && seen2=1
        ((seen1 && seen2)) && return 0
        if [[ -n ${4:-} ]] && ! alive "$4"; then return 1; fi
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------- load balancers
start_haproxy() { # nbthread
    local n=$1 port name cfg maxconn
    port=$(haproxy_port "$n")
    name=haproxy-t$n
    cfg="$TMP/$name.cfg"
    maxconn=$(((FDLIM - 200) / 2))
    cat >"$cfg" <<EOF
global
    nbthread $n
    maxconn $maxconn

defaults
    mode tcp
    timeout connect 5s
    timeout client 50s
    timeout server 50s

frontend www
    bind $VIP:$port
    maxconn $maxconn
    default_backend pool

backend pool
    balance roundrobin
    server web1 ${WEB_IPS[0]}:$WEB_PORT check
    server web2 ${WEB_IPS[1]}:$WEB_PORT check
EOF
    haproxy -c -q -f "$cfg" || die "generated HAProxy config is invalid: $cfg"
    in_ns "$NS_LB" haproxy -db -f "$cfg" >"$TMP/$name.log" 2>&1 &
    PROC[$name]=$!
    wait_both_backends "$VIP" "$port" 20 "$name" ||
        { cat "$TMP/$name.log" >&2; die "$name did not become ready on $VIP:$port"; }
}

# The proxy's config is run.sh's. NAT mode refuses what only the proxy
# honours (maxconn, balance: it picks by a Maglev hash of the client's
# address and port) and needs forwarding, which lb has on already.
rampart_config() { # threads port mode -> config text
    local frontend_mode='maxconn = 20000' balance='balance = "roundrobin"' gateway=''
    if [[ $3 == nat ]]; then
        frontend_mode='mode = "nat"'
        balance=''
        gateway=$'[gateway]\nforward = ["ipv4"]'
    fi
    cat <<EOF
[global]
threads = $1
log_level = "warn"

[[frontend]]
name = "www"
bind = ["$VIP:$2"]
backend = "pool"
$frontend_mode

[[backend]]
name = "pool"
$balance
health = { check = "tcp", interval = "2s" }
servers = [
  { name = "web1", addr = "${WEB_IPS[0]}:$WEB_PORT" },
  { name = "web2", addr = "${WEB_IPS[1]}:$WEB_PORT" },
]

$gateway
EOF
}

start_rampart() { # name threads port mode
    local name=$1 cfg="$TMP/$1.toml"
    rampart_config "$2" "$3" "$4" >"$cfg"
    # Its own runtime directory: not the host's /run/rampart, one per variant.
    in_ns "$NS_LB" "$RAMPART_BIN" run -c "$cfg" --runtime-dir "$TMP/$name.run" >>"$TMP/$name.log" 2>&1 &
    PROC[$name]=$!
    wait_both_backends "$VIP" "$3" 25 "$name" ||
        { cat "$TMP/$name.log" >&2; die "$name did not become ready on $VIP:$3 (both servers through it)"; }
}

# Does this rampart binary accept `mode = "nat"`? (`check` parses and validates only.)
rampart_has_nat() {
    rampart_config 1 "$NAT_PORT" nat >"$TMP/nat-probe.toml"
    "$RAMPART_BIN" check -c "$TMP/nat-probe.toml" >"$TMP/nat-probe.log" 2>&1
}

# The stateful reference: one nat rule, conntrack does the rest (replies are
# un-NATed from the connection's entry). Installed only for its own runs, so
# conntrack's hooks are not registered in lb while the other targets run.
dnat_on() {
    cat >"$TMP/dnat-conntrack.nft" <<EOF
table ip $DNAT_TABLE {
    chain prerouting {
        type nat hook prerouting priority dstnat; policy accept;
        ip daddr $VIP tcp dport $DNAT_PORT dnat to jhash ip saddr . tcp sport mod 2 map { 0 : ${WEB_IPS[0]}, 1 : ${WEB_IPS[1]} } : $DNAT_WEB_PORT
    }
    chain postrouting {
        type nat hook postrouting priority srcnat; policy accept;
    }
}
EOF
    in_ns "$NS_LB" nft -f "$TMP/dnat-conntrack.nft"
}
dnat_off() { in_ns "$NS_LB" nft delete table ip "$DNAT_TABLE" 2>/dev/null || true; }

# The barest stateless rewrite: untracked, the server picked by the same
# jhash, no pins, no counters, no health. Installed for its own runs only.
bare_on() {
    cat >"$TMP/nat-bare.nft" <<EOF
table ip $BARE_TABLE {
    chain prerouting {
        type filter hook prerouting priority raw; policy accept;
        ip daddr $VIP tcp dport $BARE_PORT notrack ip daddr set jhash ip saddr . tcp sport mod 2 map { 0 : ${WEB_IPS[0]}, 1 : ${WEB_IPS[1]} } tcp dport set $BARE_WEB_PORT
        ip saddr { ${WEB_IPS[0]}, ${WEB_IPS[1]} } tcp sport $BARE_WEB_PORT notrack
    }
    chain postrouting {
        type filter hook postrouting priority srcnat; policy accept;
        ip saddr { ${WEB_IPS[0]}, ${WEB_IPS[1]} } tcp sport $BARE_WEB_PORT ip saddr set $VIP tcp sport set $BARE_PORT
    }
}
EOF
    in_ns "$NS_LB" nft -f "$TMP/nat-bare.nft"
}
bare_off() { in_ns "$NS_LB" nft delete table ip "$BARE_TABLE" 2>/dev/null || true; }
# The kernel tables installed for one variant's runs only.
table_on() { case $1 in dnat-conntrack) dnat_on ;; nat-bare) bare_on ;; esac; }
table_off() { case $1 in dnat-conntrack) dnat_off ;; nat-bare) bare_off ;; esac; }
conntrack_flush() { in_ns "$NS_LB" conntrack -F >/dev/null 2>&1 || true; }

start_variant() { # variant
    case $1 in
        direct | dnat-conntrack | nat-bare) ;;
        haproxy-t*) start_haproxy "${1#haproxy-t}" ;;
        rampart-proxy-t*) start_rampart "$1" "${1#rampart-proxy-t}" "$(rampart_port "${1#rampart-proxy-t}")" proxy ;;
        rampart-nat) start_rampart "$1" 1 "$NAT_PORT" nat ;;
    esac
}

variant_port() {
    case $1 in
        haproxy-t*) haproxy_port "${1#haproxy-t}" ;;
        rampart-proxy-t*) rampart_port "${1#rampart-proxy-t}" ;;
        rampart-nat) echo "$NAT_PORT" ;;
        dnat-conntrack) echo "$DNAT_PORT" ;;
        nat-bare) echo "$BARE_PORT" ;;
        *) echo "$DIRECT_PORT" ;;
    esac
}

variant_url() { # variant path
    case $1 in
        direct) echo "http://${WEB_IPS[0]}:$DIRECT_PORT$2" ;;   # ns_direct.lua sets each thread's address
        *) echo "http://$VIP:$(variant_port "$1")$2" ;;
    esac
}

# ---------------------------------------------------------------- workloads
wrk_args() { # workload -> connections, path, close?
    case $1 in
        keepalive) echo "50 /small.txt keep" ;;
        close) echo "50 /small.txt close" ;;
        big) echo "4 /big.bin keep" ;;
    esac
}

run_wrk() { # out variant wrk-args...
    local out=$1 var=$2
    shift 2
    local direct_env=()
    if [[ $var == direct ]]; then
        direct_env=(env "NS_DIRECT=${WEB_IPS[0]}:$DIRECT_PORT ${WEB_IPS[1]}:$DIRECT_PORT")
        set -- "$@" -s "$HERE/ns_direct.lua"
    fi
    in_ns "$NS_CLIENT" "${direct_env[@]}" timeout $((dur_s + 60)) wrk "$@" >"$out" 2>&1
}

run_one() { # rep workload variant
    local rep=$1 wl=$2 var=$3 conns path close target threads out
    read -r conns path close <<<"$(wrk_args "$wl")"
    target=${var%-t*}
    threads=null
    [[ $var == *-t[0-9] ]] && threads=${var##*-t}
    out="$RAW/$wl.$var.r$rep.txt"

    local restarted=false
    if [[ $target =~ ^(haproxy|rampart) ]] && ! alive "$var"; then
        log "  $var is not running any more: restarting it (see its log)"
        restarted=true
        start_variant "$var"
    fi
    local worker_before='' worker_after='' ok=true ct_before ct_after
    [[ $target == rampart-proxy ]] && worker_before=$(pgrep -P "${PROC[$var]:-0}" 2>/dev/null | tr '\n' ' ' || true)
    [[ $var == dnat-conntrack ]] && conntrack_flush
    table_on "$var"
    ct_before=$(conntrack_count)

    local args=(-t2 -c"$conns" -d"$DUR" --latency --timeout 5s)
    [[ $close == close ]] && args+=(-H 'Connection: close')
    # CPU: the whole machine (/proc/stat), and what is ours: the processes
    # in our namespaces (nginx, the LB), wrk (bash's `time`) and ksoftirqd.
    # With tick-based accounting (no CONFIG_IRQ_TIME_ACCOUNTING) softirq
    # time is charged to the task it interrupted, so the packets' path
    # through veth, bridge and netfilter is in there too. busy - ours is
    # everyone else on the machine: a noise figure.
    local s0 s1 busy0 irq0 total0 busy1 irq1 total1 own0 own1 wrk_cpu
    own0=$(own_cpu_ticks)
    s0=$(proc_stat_cpu)
    local TIMEFORMAT='%3U %3S'
    { time run_wrk "$out" "$var" "${args[@]}" "$(variant_url "$var" "$path")" || ok=false; } 2>"$out.time"
    s1=$(proc_stat_cpu)
    own1=$(own_cpu_ticks)
    read -r busy0 irq0 total0 <<<"$s0"
    read -r busy1 irq1 total1 <<<"$s1"
    wrk_cpu=$(awk 'NF == 2 {print $1 + $2}' "$out.time")
    ct_after=$(conntrack_count)
    table_off "$var"

    local is_alive=true
    if [[ $target =~ ^(haproxy|rampart) ]]; then
        alive "$var" || is_alive=false
        if [[ $target == rampart-proxy ]]; then
            worker_after=$(pgrep -P "${PROC[$var]:-0}" 2>/dev/null | tr '\n' ' ' || true)
            if [[ $is_alive == true && $worker_before != "$worker_after" ]]; then
                log "  $var: worker process changed during the run ($worker_before-> $worker_after): it crashed?"
                is_alive=false
            fi
        fi
    fi
    local rps cpu
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")
    cpu=$(python3 -c "
import json
t = $CLK_TCK
print(json.dumps({'cpu_busy_s': round(($busy1 - $busy0) / t, 3), 'cpu_irq_s': round(($irq1 - $irq0) / t, 3),
                  'cpu_total_s': round(($total1 - $total0) / t, 3),
                  'cpu_own_s': round(($own1 - $own0) / t + float('${wrk_cpu:-0}' or 0), 3)}))")
    log "  r$rep $wl $var: ${rps:-no result} req/s, cpu s $(python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print("machine %(cpu_busy_s)s own %(cpu_own_s)s" % d)' "$cpu")$([[ $ct_after == null ]] || echo ", conntrack $ct_before -> $ct_after")$([[ $ok == true ]] || echo ' (wrk failed)')$([[ $is_alive == true ]] || echo ' LB DIED/RESTARTED')"
    python3 -c 'import json, sys; d = json.loads(sys.argv[1]); d.update(json.loads(sys.argv[2])); print(json.dumps(d))' \
        "$(printf '{"workload":"%s","target":"%s","variant":"%s","threads":%s,"rep":%s,"wrk":"%s","conntrack_before":%s,"conntrack_after":%s,"alive":%s,"restarted_before":%s,"wrk_ok":%s}' \
            "$wl" "$target" "$var" "$threads" "$rep" "$out" "$ct_before" "$ct_after" "$is_alive" "$restarted" "$ok")" \
        "$cpu" >>"$RAW/runs.jsonl"
}

# ---------------------------------------------------------------- main
if has_target rampart-nat && ! rampart_has_nat; then
    if [[ -n $TARGETS_SET ]]; then
        cat "$TMP/nat-probe.log" >&2
        die "TARGETS has rampart-nat but $RAMPART refuses mode = \"nat\" (above)"
    fi
    log "this rampart has no mode = \"nat\" yet (rampart check refuses it): target rampart-nat skipped"
    TARGETS=${TARGETS/rampart-nat/}
fi

VARIANTS=()
has_target direct && VARIANTS+=(direct)
if has_target haproxy; then for n in $THREADS; do VARIANTS+=("haproxy-t$n"); done; fi
if has_target rampart-proxy; then for n in $THREADS; do VARIANTS+=("rampart-proxy-t$n"); done; fi
has_target rampart-nat && VARIANTS+=(rampart-nat)
has_target dnat-conntrack && VARIANTS+=(dnat-conntrack)
has_target nat-bare && VARIANTS+=(nat-bare)
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
    "bench": "ns", "dur": "$DUR", "reps": $R, "targets": "$TARGETS", "threads": "$THREADS",
    "workloads": "$WORKLOADS", "variants": "${VARIANTS[*]}",
    "cpus": os.cpu_count(), "nofile": $FDLIM, "kernel": os.uname().release,
    "date": datetime.datetime.now().isoformat(timespec="seconds"),
    "haproxy": v(["haproxy", "-v"]), "nginx": v(["nginx", "-v"]), "wrk": v(["wrk", "-v"]),
    "nft": v(["nft", "--version"]), "rampart": "$RAMPART",
    "rampart_commit": v(["git", "-C", "$ROOT", "log", "-1", "--format=%h"]),
}, open(sys.argv[1], "w"), indent=2)
EOF

log "namespaces $P-*, temp dir $TMP, results in $RAW; DUR=$DUR R=$R; variants: ${VARIANTS[*]}"
build_topology
# 80: the proxies and rampart-nat; 81: dnat-conntrack; 8080: the direct
# target (other 4-tuples, so direct's TIME_WAITs never meet NATed SYNs:
# PAWS, see the README).
start_nginx "$NS_WEB1" 1 "$WEB_PORT" "$DNAT_WEB_PORT" "$DIRECT_PORT" "$BARE_WEB_PORT"
start_nginx "$NS_WEB2" 2 "$WEB_PORT" "$DNAT_WEB_PORT" "$DIRECT_PORT" "$BARE_WEB_PORT"
for i in 1 2; do
    wait_http "$NS_CLIENT" "http://${WEB_IPS[$((i - 1))]}:$DIRECT_PORT/id.txt" "web$i" 10 ||
        { cat "$TMP/nginx$i/error.log" >&2 || true; die "web$i does not answer on ${WEB_IPS[$((i - 1))]}:$DIRECT_PORT from the client"; }
done
log "nginx web1 ${WEB_IPS[0]}, web2 ${WEB_IPS[1]} (:$WEB_PORT, :$DNAT_WEB_PORT, :$DIRECT_PORT) reachable from the client via lb"
for v in "${VARIANTS[@]}"; do
    case $v in
        direct) ;;
        dnat-conntrack | nat-bare)
            table_on "$v"
            wait_both_backends "$VIP" "$(variant_port "$v")" 10 || die "$v: both webs not reached through $VIP:$(variant_port "$v")"
            table_off "$v"
            log "$v works on $VIP:$(variant_port "$v") (table installed for its runs only)" ;;
        *) start_variant "$v"; log "$v ready on $VIP:$(variant_port "$v")" ;;
    esac
done

# Warm-up: a short keep-alive run through every variant.
for v in "${VARIANTS[@]}"; do
    table_on "$v"
    run_wrk /dev/null "$v" -t2 -c50 -d2s "$(variant_url "$v" /small.txt)" || true
    table_off "$v"
done
conntrack_flush

nvar=${#VARIANTS[@]}
for ((rep = 1; rep <= R; rep++)); do
    log "round $rep/$R"
    k=0
    for wl in $WORKLOADS; do
        # Round robin over the targets, the order rotated every round and
        # workload, so drift and the noise of a shared machine hit all alike.
        for ((j = 0; j < nvar; j++)); do
            v=${VARIANTS[$(((j + rep - 1 + k) % nvar))]}
            run_one "$rep" "$wl" "$v"
            sleep 1
        done
        k=$((k + 1))
    done
done

# ---------------------------------------------------------------- report
python3 "$HERE/ns_report.py" "$RAW/runs.jsonl" | tee "$RAW/table.txt"
cp "$RAW/table.txt" "$OUT/ns-table.txt"
cp "$RAW/results.json" "$OUT/ns-results.json"
cp "$RAW/results.md" "$OUT/ns-results.md"
log "raw wrk outputs and logs: $RAW; summary: $OUT/ns-results.md"
exit
}
