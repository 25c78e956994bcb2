// Where a captured frame's client flow is, for the user-space filters and for
// turning the frame as sent (encapsulated toward a backend) back into the
// frame as received: Ethernet, then IPv4/IPv6, then, when the outer header is
// our IPIP/IP6IP6/4-in-6 or GUE tunnel, the inner packet. Offsets only.

import { formatIp } from '../../api/ip.ts';

export interface FlowView {
  readonly family: 4 | 6;
  readonly src: string;
  readonly dst: string;
  readonly proto: number;
  /** 0 when not TCP/UDP or truncated. */
  readonly sport: number;
  readonly dport: number;
  /** Offset of the client's IP header (the inner one when encapsulated). */
  readonly ipOffset: number;
  /** True when ipOffset is past an outer tunnel header. */
  readonly encapsulated: boolean;
}

const ETH_HLEN = 14;

/** The client flow of a frame; undefined for non-IP or truncated frames. */
export function viewFrame(frame: Buffer, guePort: number): FlowView | undefined {
  if (frame.length < ETH_HLEN) return undefined;
  let off = ETH_HLEN;
  let type = frame.readUInt16BE(12);
  if (type === 0x8100 && frame.length >= 18) {
    type = frame.readUInt16BE(16);
    off = 18;
  }
  const outer = ipAt(frame, off, type === 0x0800 ? 4 : type === 0x86dd ? 6 : 0);
  if (outer === undefined) return undefined;
  if (outer.proto === 4 || outer.proto === 41) {
    const inner = ipAt(frame, outer.l4, outer.proto === 4 ? 4 : 6);
    if (inner !== undefined) return { ...inner.flow, ipOffset: outer.l4, encapsulated: true };
  }
  if (outer.proto === 17 && outer.flow.dport === guePort && guePort !== 0) {
    const at = outer.l4 + 8 + 4; // UDP, GUE header (variant 0, no options)
    const version = frame.length > at ? frame[at]! >> 4 : 0;
    const inner = ipAt(frame, at, version === 4 ? 4 : version === 6 ? 6 : 0);
    if (inner !== undefined) return { ...inner.flow, ipOffset: at, encapsulated: true };
  }
  return { ...outer.flow, ipOffset: off, encapsulated: false };
}

/** The frame as received: the Ethernet header of `frame` in front of its inner packet (MACs are as sent). */
export function receivedFrame(frame: Buffer, view: FlowView): Buffer {
  if (!view.encapsulated) return frame;
  const eth = Buffer.from(frame.subarray(0, ETH_HLEN));
  eth.writeUInt16BE(view.family === 4 ? 0x0800 : 0x86dd, 12);
  return Buffer.concat([eth, frame.subarray(view.ipOffset)]);
}

function ipAt(b: Buffer, off: number, family: 0 | 4 | 6): { flow: Omit<FlowView, 'ipOffset' | 'encapsulated'>; proto: number; l4: number } | undefined {
  if (family === 4) {
    if (b.length < off + 20) return undefined;
    const ihl = (b[off]! & 0x0f) * 4;
    const proto = b[off + 9]!;
    const l4 = off + ihl;
    return { flow: { family, src: text(b, off + 12, 4), dst: text(b, off + 16, 4), proto, ...ports(b, l4, proto) }, proto, l4 };
  }
  if (family === 6) {
    if (b.length < off + 40) return undefined;
    const proto = b[off + 6]!;
    const l4 = off + 40;
    return { flow: { family, src: text(b, off + 8, 16), dst: text(b, off + 24, 16), proto, ...ports(b, l4, proto) }, proto, l4 };
  }
  return undefined;
}

function ports(b: Buffer, l4: number, proto: number): { sport: number; dport: number } {
  if ((proto !== 6 && proto !== 17) || b.length < l4 + 4) return { sport: 0, dport: 0 };
  return { sport: b.readUInt16BE(l4), dport: b.readUInt16BE(l4 + 2) };
}

function text(b: Buffer, off: number, n: 4 | 16): string {
  return formatIp({ family: n === 4 ? 'IPv4' : 'IPv6', bytes: new Uint8Array(b.subarray(off, off + n)) });
}
