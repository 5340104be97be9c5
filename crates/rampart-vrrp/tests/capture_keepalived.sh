#!/usr/bin/env bash
# Provenance of the byte vectors in keepalived_vectors.rs.
#
# Runs the real keepalived (Debian's 2.2.7) in throwaway network namespaces,
# captures its adverts with tcpdump, and prints for each case the IP source,
# destination, TTL / hop limit, the time of the first advert after start,
# and the VRRP message (the IP payload) in hex.
#
# Not run by CI. Needs root, iproute2, keepalived, tcpdump and python3.
# All traffic stays inside the namespaces made here (two hosts on one
# bridge); they are deleted on exit, also on failure.
#
#   sudo bash crates/rampart-vrrp/tests/capture_keepalived.sh [CASE...]
#
# Cases: v2_unicast_pass v2_multicast v3_v4_multicast v3_v4_as_v2
#        v3_v6_multicast v3_v4_unicast v3_v4_unicast_old_checksum
# Each runs keepalived for RUN_SECS (default 5) and then stops it with
# SIGTERM, so every capture ends with keepalived's priority-0 advert.
set -euo pipefail

RUN_SECS="${RUN_SECS:-5}"
P="rlkacap$$"
A="$P-a"    # keepalived runs here: eth0 10.10.0.11/24, fd00::11/64
B="$P-b"    # the unicast peer:     eth0 10.10.0.12/24, fd00::12/64
SW="$P-sw"  # the bridge joining them
WORK="$(mktemp -d)"

cleanup() {
  for ns in "$A" "$B" "$SW"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

setup() {
  for ns in "$A" "$B" "$SW"; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
  done
  for ns in "$A" "$B"; do
    # IPv6 usable at once, link-local source included.
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  done
  ip netns exec "$SW" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$SW" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
  ip -n "$SW" link set br0 up
  # Fixed MACs make the IPv6 link-local sources fixed: fe80::ff:fe00:11.
  local n=0 spec
  for spec in "$A 10.10.0.11/24 fd00::11/64 02:00:00:00:00:11" \
              "$B 10.10.0.12/24 fd00::12/64 02:00:00:00:00:12"; do
    set -- $spec
    ip -n "$1" link add eth0 address "$4" type veth peer name "p$n" netns "$SW"
    ip -n "$SW" link set "p$n" master br0 up
    ip -n "$1" addr add "$2" dev eth0
    ip -n "$1" addr add "$3" dev eth0 nodad
    ip -n "$1" link set eth0 up
    n=$((n + 1))
  done
}

# The keepalived.conf of each case, on stdout.
config() {
  case "$1" in
  v2_unicast_pass) # (a) the seed guide's instance; also (f) at SIGTERM
    cat <<'EOF'
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    unicast_src_ip 10.10.0.11
    unicast_peer {
        10.10.0.12
    }
    virtual_router_id 101
    priority 101
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass 1111
    }
    virtual_ipaddress {
        10.10.0.100
    }
}
EOF
    ;;
  v2_multicast) # (b)
    cat <<'EOF'
vrrp_instance VI_2 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {
        10.10.0.100
        10.10.0.101
    }
}
EOF
    ;;
  v3_v4_multicast) # (c)
    cat <<'EOF'
vrrp_instance VI_3 {
    version 3
    state MASTER
    interface eth0
    virtual_router_id 52
    priority 200
    advert_int 0.1
    virtual_ipaddress {
        10.10.0.102
    }
}
EOF
    ;;
  v3_v4_as_v2) # (d): 2.2.7 does not know this keyword (it logs so)
    cat <<'EOF'
global_defs {
    v3_checksum_as_v2
}
vrrp_instance VI_3 {
    version 3
    v3_checksum_as_v2
    state MASTER
    interface eth0
    virtual_router_id 52
    priority 200
    advert_int 0.1
    virtual_ipaddress {
        10.10.0.102
    }
}
EOF
    ;;
  v3_v6_multicast) # (e)
    cat <<'EOF'
vrrp_instance VI_6 {
    version 3
    state MASTER
    interface eth0
    virtual_router_id 53
    priority 100
    advert_int 1
    virtual_ipaddress {
        fd00::100/64
    }
}
EOF
    ;;
  v3_v4_unicast) # extra: v3 unicast, pseudo-header with the peer as destination
    cat <<'EOF'
vrrp_instance VI_7 {
    version 3
    state MASTER
    interface eth0
    unicast_src_ip 10.10.0.11
    unicast_peer {
        10.10.0.12
    }
    virtual_router_id 54
    priority 120
    advert_int 1
    virtual_ipaddress {
        10.10.0.103
    }
}
EOF
    ;;
  v3_v4_unicast_old_checksum) # extra: pre-1.3.6 unicast checksum compatibility
    cat <<'EOF'
vrrp_instance VI_8 {
    version 3
    state MASTER
    interface eth0
    unicast_src_ip 10.10.0.11
    unicast_peer {
        10.10.0.12
    }
    old_unicast_checksum
    virtual_router_id 55
    priority 120
    advert_int 1
    virtual_ipaddress {
        10.10.0.104
    }
}
EOF
    ;;
  *)
    echo "unknown case $1" >&2
    return 1
    ;;
  esac
}

# Prints one line per VRRP packet of a pcap: seconds since START, TTL/hop
# limit, source, destination, payload hex.
parse_pcap() {
  python3 - "$1" "$2" <<'EOF'
import ipaddress, struct, sys

path, start = sys.argv[1], float(sys.argv[2])
data = open(path, "rb").read()
magic = struct.unpack("<I", data[:4])[0]
endian, nano = {0xA1B2C3D4: ("<", False), 0xA1B23C4D: ("<", True)}[magic]
linktype = struct.unpack(endian + "I", data[20:24])[0]
assert linktype == 1, "expected Ethernet captures"
off = 24
while off + 16 <= len(data):
    sec, frac, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
    frame = data[off + 16:off + 16 + incl]
    off += 16 + incl
    t = sec + frac / (1e9 if nano else 1e6) - start
    ethertype = struct.unpack("!H", frame[12:14])[0]
    ip = frame[14:]
    if ethertype == 0x0800 and ip[9] == 112:
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        ttl, src, dst = ip[8], ipaddress.ip_address(ip[12:16]), ipaddress.ip_address(ip[16:20])
        payload = ip[ihl:total]
    elif ethertype == 0x86DD and ip[6] == 112:
        plen = struct.unpack("!H", ip[4:6])[0]
        ttl, src, dst = ip[7], ipaddress.ip_address(ip[8:24]), ipaddress.ip_address(ip[24:40])
        payload = ip[40:40 + plen]
    else:
        continue
    print(f"{t:8.3f} ttl={ttl} src={src} dst={dst} prio={payload[2]} hex={payload.hex()}")
EOF
}

run_case() {
  local name="$1" conf="$WORK/$1.conf" pcap="$WORK/$1.pcap"
  config "$name" >"$conf"
  ip netns exec "$A" tcpdump -i eth0 -n -U -w "$pcap" 'ip proto 112 or ip6 proto 112' \
    2>"$WORK/$name.tcpdump" &
  local tcpdump=$!
  local tries=0
  until grep -q listening "$WORK/$name.tcpdump" 2>/dev/null; do
    tries=$((tries + 1))
    if [ "$tries" -gt 100 ]; then
      echo "tcpdump did not start:" >&2
      cat "$WORK/$name.tcpdump" >&2 || true
      exit 1
    fi
    sleep 0.05
  done
  local start
  start="$(date +%s.%N)"
  ip netns exec "$A" keepalived -n -l -D -G -P -f "$conf" \
    -p "$WORK/$name.pid" -r "$WORK/$name.vrrp.pid" >"$WORK/$name.log" 2>&1 &
  local keepalived=$!
  sleep "$RUN_SECS"
  kill -TERM "$keepalived"
  wait "$keepalived" || true
  sleep 0.3
  kill -INT "$tcpdump"
  wait "$tcpdump" || true

  echo "=== $name"
  grep -E -i "unknown keyword|warning|error|Entering" "$WORK/$name.log" | sed 's/^/# log: /' || true
  local lines
  lines="$(parse_pcap "$pcap" "$start")"
  echo "# adverts captured: $(wc -l <<<"$lines")"
  echo "# first:"
  head -n 1 <<<"$lines"
  echo "# last (after SIGTERM):"
  tail -n 1 <<<"$lines"
}

setup
cases=("$@")
if [ ${#cases[@]} -eq 0 ]; then
  cases=(v2_unicast_pass v2_multicast v3_v4_multicast v3_v4_as_v2 v3_v6_multicast
         v3_v4_unicast v3_v4_unicast_old_checksum)
fi
keepalived --version 2>&1 | sed -n 1p  # sed, not head: no SIGPIPE under pipefail
for c in "${cases[@]}"; do
  run_case "$c"
done
