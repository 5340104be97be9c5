#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Do established connections survive a failover? Two rampart nodes (lb1
# master, lb2 backup) float the public VIP and the webs' gateway VIP with
# VRRP (v3, 100 ms adverts, one sync group), as in the deployment guide.
# 200 keep-alive connections through the VIP each send a request every
# 50 ms; lb1's links are cut; each connection is then classified: answered
# by the same backend as before, by another, reset, or stalled. Once with
# the frontend in proxy mode, once in NAT mode (when the binary has it).
#
#   client ── switch pub 10.77.0.0/24 (VIP .100) ── lb1 .11, lb2 .12
#   lb1 .2, lb2 .3 ── switch priv 10.77.1.0/24 (gateway VIP .1) ── web1 .11, web2 .12
#
# Needs root. Traffic goes only to addresses inside the namespaces made here.
#
# Env options:
#   MODES="proxy nat"  frontend modes to test (nat is skipped if the binary refuses it)
#   FO_R=1             runs per mode (a fresh topology each)
#   CONNS=200          long-lived connections
#   INTERVAL=0.05      seconds between two requests on one connection
#   AFTER=8            seconds the client goes on after the cut
#   RAMPART=target/release/rampart   BUILD=1 builds it first (0: use it as it is)
#   OUT=bench/out      results: ns-failover.{json,md}, raw-nsfo-<date>/
set -euo pipefail
{ # read whole before it runs: editing this file mid-run cannot change the run

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
MODES_SET=${MODES+set}
MODES=${MODES:-proxy nat}
FO_R=${FO_R:-1}
CONNS=${CONNS:-200}
INTERVAL=${INTERVAL:-0.05}
AFTER=${AFTER:-8}
RAMPART=${RAMPART:-$ROOT/target/release/rampart}
BUILD=${BUILD:-1}
OUT=${OUT:-$HERE/out}

P=rbf$$                        # namespace prefix: rbf<pid>-client, -lb1, -lb2, -web1, -web2, -swpub, -swpriv
VIP=10.77.0.100                # public VIP (VRRP instance VI_1 on eth0)
GW_VIP=10.77.1.1               # the webs' gateway (VI_2 on eth1)
CLIENT_IP=10.77.0.2
WEB_IPS=(10.77.1.11 10.77.1.12)
PORT=80

LOG_TAG="ns-failover"
# shellcheck source=ns_lib.sh
. "$HERE/ns_lib.sh"

((EUID == 0)) || die "needs root (network namespaces)"
for tool in ip nginx curl python3 pgrep; do command -v "$tool" >/dev/null 2>&1 || die "missing: $tool"; done
for m in $MODES; do [[ $m =~ ^(proxy|nat)$ ]] || die "unknown mode '$m' in MODES"; done
[[ $FO_R =~ ^[1-9][0-9]*$ ]] || die "FO_R must be a positive integer"
if [[ $BUILD == 1 ]]; then
    log "building rampart (release)"
    (cd "$ROOT" && cargo build --release -p rampart --target-dir "$ROOT/target") || die "rampart does not build"
fi
[[ -x $RAMPART ]] || die "no rampart binary at $RAMPART (BUILD=1 builds it)"

TMP=$(mktemp -d /tmp/rampart-nsfo.XXXXXX)
chmod 755 "$TMP"   # nginx workers run as nobody and must read their docroot below it
declare -A PROC
NAMESPACES=()
RAW="$OUT/raw-nsfo-$(date +%Y%m%d-%H%M%S)"
mkdir -p "$RAW"
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    ns_teardown
    [[ -d $TMP ]] && rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
cp "$RAMPART" "$TMP/rampart"   # a concurrent build cannot swap it mid-run

# ---------------------------------------------------------------- topology
switch() { # name: a namespace holding bridge br0
    add_ns "$P-sw$1"
    ip -n "$P-sw$1" link add br0 type bridge stp_state 0 forward_delay 0
    ip -n "$P-sw$1" link set br0 up
}
attach() { # switch host ifname addr/len
    local sw=$P-sw$1 ns=$P-$2
    veth "$ns" "$3" "$sw" "$2-$3"
    ip -n "$sw" link set "$2-$3" master br0 up
    ip -n "$ns" addr add "$4" dev "$3"
    ip -n "$ns" link set "$3" up
}
build_topology() {
    local h
    for h in client lb1 lb2 web1 web2; do add_ns "$P-$h"; done
    switch pub
    switch priv
    attach pub client eth0 "$CLIENT_IP/24"
    attach pub lb1 eth0 10.77.0.11/24
    attach pub lb2 eth0 10.77.0.12/24
    attach priv lb1 eth1 10.77.1.2/24
    attach priv lb2 eth1 10.77.1.3/24
    attach priv web1 eth0 "${WEB_IPS[0]}/24"
    attach priv web2 eth0 "${WEB_IPS[1]}/24"
    for h in web1 web2; do
        # onlink: installed before any LB holds the gateway VIP
        ip -n "$P-$h" route add default via "$GW_VIP" dev eth0 onlink
    done
    for h in lb1 lb2; do in_ns "$P-$h" sysctl -qw net.ipv4.ip_forward=1; done
}

rampart_config() { # node(1|2) mode
    local me peer_pub peer_priv state prio
    if [[ $1 == 1 ]]; then me=(10.77.0.11 10.77.1.2); peer_pub=10.77.0.12; peer_priv=10.77.1.3; state=master; prio=101
    else me=(10.77.0.12 10.77.1.3); peer_pub=10.77.0.11; peer_priv=10.77.1.2; state=backup; prio=100; fi
    cat <<EOF
[global]
threads = 1
log_level = "info"

[[frontend]]
name = "www"
bind = ["$VIP:$PORT"]
backend = "pool"
$([[ $2 == nat ]] && echo 'mode = "nat"')

[[backend]]
name = "pool"
$([[ $2 == proxy ]] && echo 'balance = "roundrobin"')
health = { check = "tcp", interval = "200ms", timeout = "200ms", fall = 2, rise = 1 }
servers = [
  { name = "web1", addr = "${WEB_IPS[0]}:$PORT" },
  { name = "web2", addr = "${WEB_IPS[1]}:$PORT" },
]

[vrrp]
version = 3

[[vrrp.instance]]
name = "VI_1"
state = "$state"
interface = "eth0"
vrid = 101
priority = $prio
advert_interval = "100ms"
unicast_src = "${me[0]}"
unicast_peers = ["$peer_pub"]
virtual_addresses = ["$VIP/24"]

[[vrrp.instance]]
name = "VI_2"
state = "$state"
interface = "eth1"
vrid = 102
priority = $prio
advert_interval = "100ms"
unicast_src = "${me[1]}"
unicast_peers = ["$peer_priv"]
virtual_addresses = ["$GW_VIP/24"]

[[vrrp.sync_group]]
name = "VG_1"
members = ["VI_1", "VI_2"]
$([[ $2 == nat ]] && printf '\n[gateway]\nforward = ["ipv4"]   # this node is the webs'"'"' route back\n')
EOF
}

holds() { # lb address: does lb hold address?
    ip -n "$P-$1" -4 -o addr show | grep -q " $2/"
}

wait_until() { # timeout_s command...
    local deadline=$((SECONDS + $1))
    shift
    while ((SECONDS < deadline)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

both_backends() { # through the VIP, from the client
    local seen1=0 seen2=0 body k
    for ((k = 0; k < 40; k++)); do
        body=$(in_ns "$P-client" curl -s --max-time 1 "http://$VIP:$PORT/id.txt" || true)
        [[ $body == web1 ]] && seen1=1
        [[ $body == web2 ]] && seen2=1
        ((seen1 && seen2)) && return 0
    done
    return 1
}

run_mode() { # mode rep
    local mode=$1 rep=$2 d="$TMP/run-$1-$2" n t0 res takeover=null
    mkdir -p "$d"
    build_topology
    TMP=$d start_nginx "$P-web1" 1 "$PORT"
    TMP=$d start_nginx "$P-web2" 2 "$PORT"
    for n in 1 2; do
        rampart_config "$n" "$mode" >"$d/lb$n.toml"
        in_ns "$P-lb$n" "$TMP/rampart" run -c "$d/lb$n.toml" --runtime-dir "$d/lb$n.run" >"$d/lb$n.log" 2>&1 &
        PROC[lb$n]=$!
    done
    wait_until 15 holds lb1 "$VIP" || { tail -20 "$d/lb1.log" >&2; die "$mode: lb1 never held the VIP"; }
    wait_until 5 holds lb1 "$GW_VIP" || die "$mode: lb1 never held the gateway VIP"
    holds lb2 "$VIP" && die "$mode: lb2 holds the VIP too (split brain)"
    both_backends || { tail -20 "$d/lb1.log" >&2; die "$mode: web1 and web2 not both reached through the VIP"; }
    log "$mode run $rep: lb1 master, both webs answer through $VIP:$PORT; $CONNS connections, a request every ${INTERVAL}s each"

    in_ns "$P-client" python3 "$HERE/ns_failover_client.py" --host "$VIP" --port "$PORT" --conns "$CONNS" \
        --interval "$INTERVAL" --after "$AFTER" --duration $((30 + AFTER)) --ready-file "$d/ready" --cut-file "$d/cut" \
        --verbose >"$d/client.json" 2>"$d/client.err" &
    PROC[client]=$!
    wait_until 15 test -s "$d/ready" || { cat "$d/client.json" "$d/client.err" >&2; die "$mode: the client never got every connection answered"; }
    sleep 2
    ip -n "$P-lb1" link set eth0 down
    ip -n "$P-lb1" link set eth1 down
    # the cut: written once both links are down
    t0=$(date +%s%N)
    printf '%s.%s\n' "${t0:0:10}" "${t0:10}" >"$d/cut"
    if wait_until 10 holds lb2 "$VIP"; then
        takeover=$(( ($(date +%s%N) - t0) / 1000000 ))
        log "$mode run $rep: lb1's links cut; lb2 holds the VIP ${takeover} ms later"
    else
        log "$mode run $rep: lb1's links cut; lb2 did NOT take the VIP over in 10 s"
    fi
    wait "${PROC[client]}" || true
    unset "PROC[client]"
    res=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d.pop("records",None); print(json.dumps(d))' "$d/client.json" 2>/dev/null) ||
        res='{"error": "client failed"}'
    log "$mode run $rep: $res"
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(mode=sys.argv[2], rep=int(sys.argv[3]), takeover_ms=(None if sys.argv[4]=="null" else int(sys.argv[4]))); print(json.dumps(d))' \
        "$res" "$mode" "$rep" "$takeover" >>"$RAW/failover.jsonl"
    cp "$d/client.json" "$RAW/client-$mode-$rep.json"
    for n in 1 2; do
        cp "$d/lb$n.log" "$RAW/lb$n-$mode-$rep.log" 2>/dev/null || true
        cp "$d/lb$n.toml" "$RAW/lb$n-$mode.toml" 2>/dev/null || true
    done
    ns_teardown
}

has_nat() {
    rampart_config 1 nat >"$TMP/nat-probe.toml"
    "$TMP/rampart" check -c "$TMP/nat-probe.toml" >"$TMP/nat-probe.log" 2>&1
}

if [[ " $MODES " == *" nat "* ]] && ! has_nat; then
    [[ -n $MODES_SET ]] && { cat "$TMP/nat-probe.log" >&2; die "MODES has nat but this rampart refuses mode = \"nat\""; }
    log "this rampart has no mode = \"nat\" yet: only proxy mode"
    MODES=${MODES/nat/}
fi

for ((rep = 1; rep <= FO_R; rep++)); do
    for mode in $MODES; do run_mode "$mode" "$rep"; done
done

python3 - "$RAW/failover.jsonl" "$CONNS" <<'EOF' | tee "$RAW/table.md"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"| mode | run | connections | same backend after the cut | other backend | reset | stalled | stall median / max | VIP on lb2 after |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    st = "-" if r.get("stall_median_s") is None else f"{r['stall_median_s']:.3f} s / {r['stall_max_s']:.3f} s"
    tk = "-" if r.get("takeover_ms") is None else f"{r['takeover_ms']} ms"
    print(f"| {r['mode']} | {r['rep']} | {r.get('conns', sys.argv[2])} | {r.get('same', '-')} | {r.get('other', '-')} | "
          f"{r.get('reset', '-')} | {r.get('stalled', '-')} | {st} | {tk} |")
EOF
cp "$RAW/table.md" "$OUT/ns-failover.md"
cp "$RAW/failover.jsonl" "$OUT/ns-failover.jsonl"
log "results: $RAW"
exit
}
