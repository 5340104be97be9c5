#!/usr/bin/env bash
# Provenance of the byte vectors in tests/captures.rs; not run in CI.
#
# Peers BIRD 2 (AS 65530) with FRR bgpd (AS 65000) over a veth between two
# network namespaces, records port 179 with tcpdump while the session goes
# through its life (OPENs, initial UPDATEs and End-of-RIBs, ROUTE-REFRESH
# both ways, withdrawals both ways, BIRD's administrative shutdown with a
# message), then prints every BGP message of each direction as hex.
#
# Needs root, bird/birdc, /usr/lib/frr/{zebra,bgpd}, vtysh, tcpdump, python3.
# Usage: tests/capture_peers.sh [OUTDIR]   (default /tmp/rampart-bgp-capture)
#
# One IPv4 session carries both families (RFC 4760). BIRD is passive so
# that only FRR connects and no collision muddles the capture. MD5 is off.
# MAC addresses are fixed so that the link-local next hops (EUI-64) are
# the same on every run.

set -euo pipefail

OUT=${1:-/tmp/rampart-bgp-capture}
NS_B=rbcap-bird
NS_F=rbcap-frr
IF_B=rbcap-b
IF_F=rbcap-f
ADDR_B=10.77.0.1
ADDR_F=10.77.0.2
ADDR6_B=2001:db8:77::1
ADDR6_F=2001:db8:77::2

rm -rf "$OUT"
mkdir -p "$OUT/frr"
chmod 777 "$OUT" "$OUT/frr"

TCPDUMP_PID=
cleanup() {
    set +e
    [ -f "$OUT/bird.pid" ] && kill "$(cat "$OUT/bird.pid")" 2>/dev/null
    [ -f "$OUT/bgpd.pid" ] && kill "$(cat "$OUT/bgpd.pid")" 2>/dev/null
    [ -f "$OUT/zebra.pid" ] && kill "$(cat "$OUT/zebra.pid")" 2>/dev/null
    [ -n "$TCPDUMP_PID" ] && kill "$TCPDUMP_PID" 2>/dev/null
    sleep 1
    ip netns del "$NS_B" 2>/dev/null
    ip netns del "$NS_F" 2>/dev/null
}
trap cleanup EXIT

# === network ===
ip netns add "$NS_B"
ip netns add "$NS_F"
ip link add "$IF_B" netns "$NS_B" type veth peer name "$IF_F" netns "$NS_F"
ip -n "$NS_B" link set "$IF_B" address 02:00:00:00:77:01
ip -n "$NS_F" link set "$IF_F" address 02:00:00:00:77:02
ip -n "$NS_B" addr add "$ADDR_B/24" dev "$IF_B"
ip -n "$NS_F" addr add "$ADDR_F/24" dev "$IF_F"
ip -n "$NS_B" addr add "$ADDR6_B/64" dev "$IF_B" nodad
ip -n "$NS_F" addr add "$ADDR6_F/64" dev "$IF_F" nodad
for ns in "$NS_B" "$NS_F"; do ip -n "$ns" link set lo up; done
ip -n "$NS_B" link set "$IF_B" up
ip -n "$NS_F" link set "$IF_F" up
sleep 2 # link-local addresses leave DAD

# === BIRD 2: AS 65530 ===
cat >"$OUT/bird.conf" <<EOF
router id $ADDR_B;
log "$OUT/bird.log" all;
protocol device { }
protocol static static4 { ipv4; route 192.0.2.10/32 blackhole; }
protocol static static6 { ipv6; route 2001:db8:a::10/128 blackhole; }
filter to_frr {
    bgp_community.add((65530,100));
    bgp_large_community.add((65530,1,2));
    bgp_med = 10;
    accept;
}
protocol bgp frr {
    local $ADDR_B as 65530;
    neighbor $ADDR_F as 65000;
    passive on;
    ipv4 { import all; export filter to_frr; };
    ipv6 { import all; export filter to_frr; next hop address $ADDR6_B; };
}
EOF

# === FRR: AS 65000 ===
# zebra runs too: without it bgpd knows no interfaces, and FRR 8.4 then
# rejects the link-local IPv6 next hop BIRD sends on a direct session
# ("sent a v6 LL next-hop and there's no peer interface information")
# and answers the UPDATE with an Invalid Network Field NOTIFICATION. bgpd
# still installs nothing in the kernel (-n).
cat >"$OUT/frr/zebra.conf" <<EOF
hostname frrpeer
!
EOF
cat >"$OUT/frr/bgpd.conf" <<EOF
frr defaults traditional
hostname frrpeer
!
router bgp 65000
 bgp router-id $ADDR_F
 no bgp ebgp-requires-policy
 no bgp network import-check
 neighbor $ADDR_B remote-as 65530
 !
 address-family ipv4 unicast
  network 198.51.100.10/32
 exit-address-family
 !
 address-family ipv6 unicast
  network 2001:db8:b::10/128
  neighbor $ADDR_B activate
 exit-address-family
!
EOF

ip netns exec "$NS_B" tcpdump -i "$IF_B" -U -Z root -w "$OUT/bgp.pcap" tcp port 179 \
    >"$OUT/tcpdump.log" 2>&1 &
TCPDUMP_PID=$!
sleep 1

ip netns exec "$NS_B" bird -c "$OUT/bird.conf" -s "$OUT/bird.ctl" -P "$OUT/bird.pid"
ip netns exec "$NS_F" /usr/lib/frr/zebra -f "$OUT/frr/zebra.conf" -i "$OUT/zebra.pid" \
    -z "$OUT/frr/zserv.api" --vty_socket "$OUT/frr" -P 0 --log stdout \
    >"$OUT/zebra.log" 2>&1 &
sleep 1
ip netns exec "$NS_F" /usr/lib/frr/bgpd -f "$OUT/frr/bgpd.conf" -i "$OUT/bgpd.pid" \
    -z "$OUT/frr/zserv.api" --vty_socket "$OUT/frr" -n -S -P 0 --log stdout \
    >"$OUT/bgpd.log" 2>&1 &

birdc() { command birdc -s "$OUT/bird.ctl" "$@"; }
vty() { vtysh --vty_socket "$OUT/frr" -d bgpd "$@"; }

for _ in $(seq 60); do
    birdc show protocols frr | grep -q Established && break
    sleep 0.5
done
birdc show protocols all frr
sleep 3 # initial UPDATEs and End-of-RIBs both ways

birdc reload in frr        # BIRD -> FRR: ROUTE-REFRESH, both families
sleep 2
vty -c 'clear bgp * soft in' # FRR -> BIRD: ROUTE-REFRESH, both families
sleep 2
birdc disable static4      # BIRD -> FRR: IPv4 withdrawal
birdc disable static6      # BIRD -> FRR: MP_UNREACH_NLRI
sleep 2
vty -c 'configure terminal' -c 'router bgp 65000' \
    -c 'address-family ipv4 unicast' -c 'no network 198.51.100.10/32' \
    -c 'exit-address-family' -c 'address-family ipv6 unicast' \
    -c 'no network 2001:db8:b::10/128' # FRR -> BIRD: withdrawals
sleep 2
birdc disable frr '"maintenance"' # BIRD -> FRR: Cease/2 "maintenance"
sleep 2

kill "$TCPDUMP_PID"
wait "$TCPDUMP_PID" 2>/dev/null || true
TCPDUMP_PID=

# === the messages, per direction ===
python3 - "$OUT/bgp.pcap" "$ADDR_B" "$ADDR_F" <<'EOF'
import struct, sys, socket

path, bird, frr = sys.argv[1:4]
names = {bird: "BIRD", frr: "FRR"}
types = {1: "OPEN", 2: "UPDATE", 3: "NOTIFICATION", 4: "KEEPALIVE", 5: "ROUTE-REFRESH"}

data = open(path, "rb").read()
magic = data[:4]
endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
linktype = struct.unpack(endian + "I", data[20:24])[0]
assert linktype == 1, f"link type {linktype}, expected Ethernet"
pos = 24
segments = {}  # (src, sport, dst, dport) -> {seq: payload}
isn = {}
order = []
while pos + 16 <= len(data):
    _, _, incl, _ = struct.unpack(endian + "IIII", data[pos:pos + 16])
    pkt = data[pos + 16:pos + 16 + incl]
    pos += 16 + incl
    ethertype = struct.unpack("!H", pkt[12:14])[0]
    ip = pkt[14:]
    if ethertype == 0x0800:
        ihl = (ip[0] & 0xF) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        if ip[9] != 6:
            continue
        src, dst = socket.inet_ntoa(ip[12:16]), socket.inet_ntoa(ip[16:20])
        tcp = ip[ihl:total]
    elif ethertype == 0x86DD:
        if ip[6] != 6:
            continue
        plen = struct.unpack("!H", ip[4:6])[0]
        src = socket.inet_ntop(socket.AF_INET6, ip[8:24])
        dst = socket.inet_ntop(socket.AF_INET6, ip[24:40])
        tcp = ip[40:40 + plen]
    else:
        continue
    sport, dport, seq = struct.unpack("!HHI", tcp[:8])
    off = (tcp[12] >> 4) * 4
    flags = tcp[13]
    key = (src, sport, dst, dport)
    if flags & 0x02:  # SYN
        isn[key] = seq
        if key not in order:
            order.append(key)
        continue
    payload = tcp[off:]
    if payload:
        segments.setdefault(key, {})[seq] = payload

for key in order:
    src, sport, dst, dport = key
    base = isn[key] + 1
    stream = bytearray()
    for seq, payload in sorted(segments.get(key, {}).items(), key=lambda kv: (kv[0] - base) % 2**32):
        rel = (seq - base) % 2**32
        if rel > len(stream):
            sys.exit(f"gap in {key} at {len(stream)}")
        stream[rel:rel + len(payload)] = payload
    print(f"# {names.get(src, src)} -> {names.get(dst, dst)} ({src}:{sport} -> {dst}:{dport}), {len(stream)} bytes")
    i = n = 0
    while i + 19 <= len(stream):
        length = struct.unpack("!H", stream[i + 16:i + 18])[0]
        msg = bytes(stream[i:i + length])
        print(f"{n:3} {types.get(msg[18], msg[18])} {length} {msg.hex()}")
        i += length
        n += 1
    if i != len(stream):
        print(f"# {len(stream) - i} trailing bytes")
EOF
