// RFC 1071 Internet checksum and the IPv4/IPv6 pseudo-headers of RFC 768/793/8200.

/** One's-complement sum of 16-bit big-endian words, not yet folded or inverted. */
function sum16(buf: Buffer, initial: number): number {
  let sum = initial;
  const even = buf.length & ~1;
  for (let i = 0; i < even; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (buf.length & 1) sum += buf[buf.length - 1]! << 8; // odd byte padded with zero
  return sum;
}

/** Checksum over the concatenation of `parts` (each part must start on an even offset except the last). */
export function internetChecksum(...parts: Buffer[]): number {
  let sum = 0;
  for (const p of parts) sum = sum16(p, sum);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Pseudo-header for TCP/UDP/ICMPv6 checksums: 12 bytes (IPv4) or 40 bytes (IPv6). */
export function pseudoHeader(src: Buffer, dst: Buffer, proto: number, length: number): Buffer {
  if (src.length === 4) {
    const b = Buffer.alloc(12);
    src.copy(b, 0);
    dst.copy(b, 4);
    b[9] = proto;
    b.writeUInt16BE(length, 10);
    return b;
  }
  const b = Buffer.alloc(40);
  src.copy(b, 0);
  dst.copy(b, 16);
  b.writeUInt32BE(length, 32);
  b[39] = proto;
  return b;
}
