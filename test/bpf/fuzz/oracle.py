"""Independent oracle for the dataplane fuzz suite (test/bpf/fuzz.test.ts).

Checks every XDP_TX output of the balancer with scapy's dissectors and
checksum routines, never with the project's own packet code. Input: a JSON
lines file whose first line is the world (backends per VIP, gateway MAC, GUE
port, outer source prefixes, MTU) and whose other lines are
{"id", "in": hex, "out": hex}. Output (stdout): one JSON line per frame with
findings {"id", "findings": [[code, detail], ...]}, then a summary line
{"summary": {"checked": n, "kinds": {...}, "findings": {code: count}}}.

Usage: python oracle.py FILE
"""

import ipaddress
import json
import sys
from collections import Counter

from scapy.layers.inet import ICMP, IP, TCP, UDP, in4_chksum
from scapy.layers.inet6 import IPv6, in6_chksum
from scapy.layers.l2 import Dot1Q, Ether
from scapy.utils import checksum

IPIP, IPV6_IN, UDP_P, TCP_P, ICMP_P, ICMP6_P = 4, 41, 17, 6, 1, 58


# Each header is dissected on its own bytes only: scapy would otherwise dissect
# every layer below it on every call, which costs milliseconds per frame.
def eth(frame):
    return Ether(frame[:14])


def ip4(b):
    return IP(b[: max(20, (b[0] & 15) * 4)])


def ip6(b):
    return IPv6(b[:40])


def l3_of(frame):
    """(L3 offset, ethertype, vlan id or None) from scapy's Ethernet / 802.1Q dissection."""
    e = eth(frame)
    if e.type == 0x8100:
        tag = Dot1Q(frame[14:18])
        return 18, tag.type, tag.vlan
    return 14, e.type, None


def ip_len(pkt):
    """Declared IP length of the packet at the start of `pkt` (bytes)."""
    if pkt[0] >> 4 == 4:
        return ip4(pkt).len
    return 40 + ip6(pkt).plen


def put16(b, off, v):
    b[off : off + 2] = v.to_bytes(2, "big")


def repair_inner(inner):
    """The inner packet with its IPv4 header and L4 checksums recomputed (None: not TCP/UDP/ICMP of its family)."""
    b = bytearray(inner)
    if b[0] >> 4 == 4:
        hl = (b[0] & 15) * 4
        put16(b, 10, 0)
        put16(b, 10, checksum(bytes(b[:hl])))
        proto, seg_off, end = b[9], hl, ip4(inner).len
        ip = ip4(bytes(b))
        if proto == ICMP_P:
            put16(b, seg_off + 2, 0)
            put16(b, seg_off + 2, checksum(bytes(b[seg_off:end])))
            return bytes(b)
        at = {TCP_P: 16, UDP_P: 6}.get(proto)
        if at is None:
            return None
        if proto == UDP_P and b[seg_off + 6 : seg_off + 8] == b"\x00\x00":
            return bytes(b)  # no checksum: the segment is summed as it is
        put16(b, seg_off + at, 0)
        put16(b, seg_off + at, in4_chksum(proto, ip, bytes(b[seg_off:end])))
        return bytes(b)
    ip = ip6(inner)
    at = {TCP_P: 16, UDP_P: 6, ICMP6_P: 2}.get(ip.nh)
    if at is None:
        return None
    end = 40 + ip.plen
    put16(b, 40 + at, 0)
    put16(b, 40 + at, in6_chksum(ip.nh, ip, bytes(b[40:end])))
    return bytes(b)


def ip4_header_valid(ip_bytes):
    return ip_bytes[0] >> 4 != 4 or checksum(ip_bytes[: (ip_bytes[0] & 15) * 4]) == 0


def in_prefix(addr, prefix, bits):
    net = ipaddress.ip_address(prefix)
    a = ipaddress.ip_address(addr)
    width = net.max_prefixlen
    mask = ((1 << width) - 1) ^ ((1 << bits) - 1)
    return int(a) & mask == int(net) & mask


class Oracle:
    def __init__(self, world):
        self.w = world
        self.backends = {b.lower() for v in world["vips"] for b in v["backends"]}

    def vip_of(self, addr, port, proto):
        """The VIP entry for (addr, port, proto): exact port first, then port 0."""
        a = ipaddress.ip_address(addr)
        for want in (port, 0):
            for v in self.w["vips"]:
                if ipaddress.ip_address(v["address"]) == a and v["port"] == want and v["proto"] == proto:
                    return v
        return None

    def flow_vip(self, ip_bytes):
        """VIP of the client->VIP flow the inner packet belongs to (reversing a quoted ICMP error)."""
        v4 = ip_bytes[0] >> 4 == 4
        ip = ip4(ip_bytes) if v4 else ip6(ip_bytes)
        proto = ip.proto if v4 else ip.nh
        off = ip.ihl * 4 if v4 else 40
        if proto in (TCP_P, UDP_P):
            return self.vip_of(ip.dst, int.from_bytes(ip_bytes[off + 2 : off + 4], "big"), proto), False
        # ICMP error: the quote is VIP -> client; the flow is client -> VIP.
        q = ip_bytes[(ip.ihl * 4 if v4 else 40) + 8 :]
        if len(q) < (20 if v4 else 40) + 4:
            return None, True
        qip = ip4(q) if v4 else ip6(q)
        qproto = qip.proto if v4 else qip.nh
        qoff = qip.ihl * 4 if v4 else 40
        sport = int.from_bytes(q[qoff : qoff + 2], "big")
        return self.vip_of(qip.src, sport, qproto), True

    def check(self, rec):
        inp, out = bytes.fromhex(rec["in"]), bytes.fromhex(rec["out"])
        f = []
        in_l3, _, in_vlan = l3_of(inp)
        out_l3, out_type, out_vlan = l3_of(out)
        if out_vlan != in_vlan:
            f.append(("vlan", f"in {in_vlan} out {out_vlan}"))
        o = out[out_l3:]
        v4 = out_type == 0x0800
        if out_type not in (0x0800, 0x86DD):
            return "other", f + [("ethertype", hex(out_type))]
        oip = ip4(o) if v4 else ip6(o)
        if oip.dst.lower() in self.backends:
            return "encap", f + self.check_encap(inp, in_l3, out, out_l3, oip, v4)
        proto = oip.proto if v4 else oip.nh
        if proto in (ICMP_P, ICMP6_P):
            return "icmp", f + self.check_icmp(inp, in_l3, out, out_l3, oip, v4)
        return "other", f + [("unknown-output", f"{oip.src} -> {oip.dst} proto {proto}")]

    def check_encap(self, inp, in_l3, out, out_l3, oip, v4):
        f = []
        w = self.w
        e_out, e_in = eth(out), eth(inp)
        if e_out.dst.lower() != w["gatewayMac"]:
            f.append(("dst-mac", e_out.dst))
        if e_out.src.lower() != e_in.dst.lower():
            f.append(("src-mac", e_out.src))
        inner_in = inp[in_l3 : in_l3 + ip_len(inp[in_l3:])]
        o = out[out_l3:]
        if v4:
            hlen, total = 20, oip.len
            if o[0] != 0x45:
                f.append(("outer-ihl", hex(o[0])))
            if not ip4_header_valid(o):
                f.append(("outer-ip-csum", hex(oip.chksum)))
            if oip.ttl != 64 or oip.frag != 0 or oip.flags.MF:
                f.append(("outer-ip-fields", f"ttl {oip.ttl} frag {oip.frag}"))
            if not in_prefix(oip.src, w["src4"], w["src4Bits"]):
                f.append(("outer-src", oip.src))
            proto = oip.proto
        else:
            hlen, total = 40, 40 + oip.plen
            if oip.hlim != 64:
                f.append(("outer-hlim", oip.hlim))
            if not in_prefix(oip.src, w["src6"], w["src6Bits"]):
                f.append(("outer-src", oip.src))
            proto = oip.nh
        inner_family = inner_in[0] >> 4 if inner_in else 0
        inner_proto = IPIP if inner_family == 4 else IPV6_IN
        off = hlen
        if proto == UDP_P:
            u = UDP(o[hlen : hlen + 8])
            gue = o[hlen + 8 : hlen + 12]
            if u.dport != w["guePort"] or not 0xC000 <= u.sport <= 0xFFFF:
                f.append(("gue-ports", f"{u.sport} -> {u.dport}"))
            if u.len != len(inner_in) + 12:
                f.append(("gue-udp-len", f"{u.len} for inner {len(inner_in)}"))
            if gue != bytes([0, inner_proto, 0, 0]):
                f.append(("gue-header", gue.hex()))
            f += self.check_gue_csum(o, hlen, u, oip, v4, inner_in)
            off = hlen + 12
        elif proto != inner_proto:
            f.append(("outer-proto", f"{proto} for inner family {inner_family}"))
        if total != off + len(inner_in):
            f.append(("outer-len", f"{total} for inner {len(inner_in)} + {off}"))
        if o[off : off + len(inner_in)] != inner_in:
            f.append(("inner-changed", ""))
        extra = len(o) - total
        trailer = len(inp) - in_l3 - len(inner_in)
        if extra > max(trailer, 0):
            f.append(("output-trailer", f"{extra} bytes after the outer packet, input had {trailer}"))
        if w["mtu"] and len(o) > w["mtu"]:
            f.append(("over-mtu", f"{len(o)} L3 bytes sent, MTU {w['mtu']} (outer packet {total})"))
        vip, err = self.flow_vip(inner_in)
        if vip is None:
            f.append(("no-vip", "ICMP error whose quote is not inside the IP packet" if err else "inner flow matches no VIP"))
        elif oip.dst.lower() not in {b.lower() for b in vip["backends"]}:
            code = "quic-cross-vip" if vip.get("quic") else "wrong-backend"
            f.append((code, f"{oip.dst} not a backend of {vip['name']}"))
        if inner_family == 6 and v4:
            f.append(("v6-inner-in-v4", oip.dst))
        return f

    def check_gue_csum(self, o, hlen, u, oip, v4, inner_in):
        """
        Outer UDP checksum = the checksum the datagram would have if the inner
        packet's own checksums (IPv4 header, TCP/UDP/ICMP) were correct: the
        balancer derives the outer sum from them instead of reading the payload.
        So with valid inner checksums the outer one must verify over the real
        bytes; with invalid ones it must equal the one over the repaired inner
        packet (computed here by scapy's checksum routines).
        """
        nocsum = inner_in[0] >> 4 == 4 and inner_in[9] == UDP_P and inner_in[(inner_in[0] & 15) * 4 + 6 : (inner_in[0] & 15) * 4 + 8] == b"\x00\x00"
        if u.chksum == 0:
            if v4 and nocsum:
                return []
            return [("gue-csum-zero", "outer UDP checksum 0" + (" over IPv6" if not v4 else ""))]
        repaired = repair_inner(inner_in)
        if repaired is None:
            return [("gue-csum-inner-unknown", "inner protocol the balancer should not have forwarded")]
        head = bytearray(o[hlen : hlen + 12])
        head[6:8] = b"\x00\x00"
        want = (in4_chksum if v4 else in6_chksum)(UDP_P, oip, bytes(head) + repaired) or 0xFFFF
        if want != u.chksum:
            ok = (in4_chksum if v4 else in6_chksum)(UDP_P, oip, o[hlen : hlen + u.len]) == 0
            return [("gue-csum", f"outer {u.chksum:#06x}, expected {want:#06x} (verifies over the sent bytes: {ok})")]
        return []

    def check_icmp(self, inp, in_l3, out, out_l3, oip, v4):
        """Echo replies (answered in place) and generated too-big messages."""
        f = []
        o = out[out_l3:]
        e_out, e_in = eth(out), eth(inp)
        if e_out.dst.lower() != e_in.src.lower() or e_out.src.lower() != e_in.dst.lower():
            f.append(("icmp-macs", f"{e_out.src} -> {e_out.dst}"))
        i = inp[in_l3:]
        iip = ip4(i) if i[0] >> 4 == 4 else ip6(i)
        if oip.dst != iip.src or (oip.src != iip.dst):
            f.append(("icmp-addrs", f"{oip.src} -> {oip.dst} for input {iip.src} -> {iip.dst}"))
        if v4:
            total, hlen, ttl = oip.len, oip.ihl * 4, oip.ttl
            msg = o[hlen:total]
            ok = checksum(msg) == 0
        else:
            total, hlen, ttl = 40 + oip.plen, 40, oip.hlim
            msg = o[40:total]
            ok = in6_chksum(ICMP6_P, oip, msg) == 0
        if len(o) < total:
            f.append(("icmp-truncated", f"frame carries {len(o)} L3 bytes, IP length {total}"))
        if ttl != 64:
            f.append(("icmp-ttl", ttl))
        typ = msg[0] if msg else -1
        if typ in (0, 129):
            # Answered in place with incremental checksum updates: each checksum
            # of the reply is valid exactly when the request's was.
            req = i[hlen : ip_len(i)]
            req_ok = checksum(req) == 0 if v4 else in6_chksum(ICMP6_P, iip, req) == 0
            if ok != req_ok:
                f.append(("icmp-csum", f"reply {'valid' if ok else 'invalid'}, request {'valid' if req_ok else 'invalid'}"))
            if v4 and ip4_header_valid(o) != ip4_header_valid(i):
                f.append(("icmp-ip-csum", "reply header checksum validity differs from the request's"))
            if msg[4:] != req[4:]:
                f.append(("echo-data", ""))
            if len(o) - total > len(i) - ip_len(i):
                f.append(("icmp-trailer", f"{len(o) - total} bytes after the reply"))
            return f
        if not ok:
            f.append(("icmp-csum", "generated message"))
        if v4 and not ip4_header_valid(o):
            f.append(("icmp-ip-csum", "generated message"))
        if len(o) != total:
            f.append(("icmp-len", f"frame carries {len(o)} L3 bytes, IP length {total}"))
        if (v4 and typ == 3 and msg[1] == 4) or (not v4 and typ == 2):
            quote = 28 if v4 else 48
            if msg[8:] != i[:quote]:
                f.append(("too-big-quote", f"{len(msg) - 8} quoted bytes"))
            mtu = int.from_bytes(msg[6:8] if v4 else msg[4:8], "big")
            if mtu not in {self.w["mtu"] - h for h in (20, 32, 40, 52)}:
                f.append(("too-big-mtu", mtu))
            if ip_len(i) <= mtu:
                f.append(("too-big-fits", f"IP length {ip_len(i)} fits the reported MTU {mtu}"))
            return f
        return f + [("icmp-type", f"{typ}")]


def main():
    with open(sys.argv[1]) as fh:
        oracle = Oracle(json.loads(fh.readline()))
        kinds, codes, n = Counter(), Counter(), 0
        for line in fh:
            rec = json.loads(line)
            n += 1
            try:
                kind, findings = oracle.check(rec)
            except Exception as err:  # a frame scapy cannot dissect is itself a finding
                kind, findings = "error", [("oracle-error", f"{type(err).__name__}: {err}")]
            kinds[kind] += 1
            for code, _ in findings:
                codes[code] += 1
            if findings:
                print(json.dumps({"id": rec["id"], "findings": [[c, str(d)] for c, d in findings]}))
    print(json.dumps({"summary": {"checked": n, "kinds": kinds, "findings": codes}}))


if __name__ == "__main__":
    main()
