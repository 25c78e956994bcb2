// QUIC headers (RFC 9000 17.2/17.3) as a load balancer sees them: the
// connection ids are structured, the rest stays opaque bytes.

import type { QuicLongLayer, QuicShortLayer } from './types.ts';

/** QUIC variable-length integer (RFC 9000 16), shortest encoding. */
export function quicVarint(n: number): Buffer {
  if (n < 0x40) return Buffer.from([n]);
  if (n < 0x4000) return Buffer.from([0x40 | (n >>> 8), n & 0xff]);
  if (n < 0x40000000) {
    const b = Buffer.alloc(4);
    b.writeUInt32BE((0x80000000 | n) >>> 0);
    return b;
  }
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n) | (3n << 62n));
  return b;
}

export function buildQuicLong(q: QuicLongLayer): Buffer {
  const type = q.packetType ?? 0;
  const scid = q.scid ?? Buffer.alloc(0);
  const head = Buffer.alloc(7);
  head[0] = q.firstByte ?? 0xc0 | ((type & 3) << 4); // long form, fixed bit, 1-byte packet number
  head.writeUInt32BE((q.version ?? 1) >>> 0, 1);
  head[5] = q.dcid.length;
  let body = q.body;
  if (body === undefined) {
    const pn = Buffer.from([(q.packetNumber ?? 0) & 0xff]);
    const payload = q.payload ?? Buffer.alloc(0);
    const token = type === 0 ? [quicVarint(q.token?.length ?? 0), q.token ?? Buffer.alloc(0)] : [];
    body = Buffer.concat([...token, quicVarint(pn.length + payload.length), pn, payload]);
  }
  return Buffer.concat([head.subarray(0, 6), q.dcid, Buffer.from([scid.length]), scid, body]);
}

export function buildQuicShort(q: QuicShortLayer): Buffer {
  const body = q.body ?? Buffer.concat([Buffer.from([(q.packetNumber ?? 0) & 0xff]), q.payload ?? Buffer.alloc(0)]);
  return Buffer.concat([Buffer.from([q.firstByte ?? 0x40]), q.dcid, body]);
}

/** QUIC long or short header at the start of a UDP payload; raw bytes when it does not fit. */
export function parseQuic(data: Buffer, offset: number, shortDcidLength: number): QuicLongLayer | QuicShortLayer | Buffer {
  const first = data[0];
  if (first === undefined) return data;
  if ((first & 0x80) !== 0) {
    if (data.length < 7) return data;
    const dlen = data[5]!;
    const scidAt = 6 + dlen;
    if (data.length < scidAt + 1) return data;
    const slen = data[scidAt]!;
    if (data.length < scidAt + 1 + slen) return data;
    return {
      kind: 'quic-long',
      offset,
      firstByte: first,
      packetType: (first >>> 4) & 3,
      version: data.readUInt32BE(1),
      dcid: data.subarray(6, scidAt),
      scid: data.subarray(scidAt + 1, scidAt + 1 + slen),
      body: data.subarray(scidAt + 1 + slen),
    };
  }
  const dlen = shortDcidLength;
  if (data.length < 1 + dlen) return data;
  return { kind: 'quic-short', offset, firstByte: first, dcid: data.subarray(1, 1 + dlen), body: data.subarray(1 + dlen) };
}
