// Frames for the packet generator (bench/pktgen/pktgen.c): N fixed TCP flows
// to one VIP, built with src/packet, and the [u16 LE length][bytes] file the
// generator reads. The generator itself stamps a new source per packet in
// --flood mode; here every flow is distinct and deterministic.
import { writeFile } from 'node:fs/promises';
import { build } from '../../src/packet/build.ts';

export interface FlowSet {
  /** Destination MAC: the balancer's interface. */
  readonly dstMac: string;
  readonly srcMac: string;
  readonly vip: string;
  readonly port: number;
  /** Distinct flows (1..65536): sources 198.18.x.y, source ports from 10000. */
  readonly flows: number;
  /** 'A' = established (LRU hit after the first packet), 'S' = SYN. */
  readonly flags: 'A' | 'S';
}

export const MAX_FLOWS = 65536;

/** One Ethernet/IPv4/TCP frame per flow; flow i has source 198.18.(i>>8).(i&255), port 10000 + i % 50000. */
export function flowFrames(set: FlowSet): Buffer[] {
  if (!Number.isInteger(set.flows) || set.flows < 1 || set.flows > MAX_FLOWS) {
    throw new RangeError(`flows must be an integer in 1..${String(MAX_FLOWS)}, got ${String(set.flows)}`);
  }
  const out: Buffer[] = [];
  for (let i = 0; i < set.flows; i++) {
    out.push(
      build({
        kind: 'eth',
        src: set.srcMac,
        dst: set.dstMac,
        payload: {
          kind: 'ipv4',
          src: `198.18.${String(i >> 8)}.${String(i & 255)}`,
          dst: set.vip,
          payload: { kind: 'tcp', sport: 10000 + (i % 50000), dport: set.port, flags: set.flags },
        },
      }),
    );
  }
  return out;
}

/** The generator's frames file: [u16 little-endian length][frame] per frame. */
export function encodeFrameFile(frames: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const f of frames) {
    if (f.length < 14 || f.length > 1984) throw new RangeError(`frame of ${String(f.length)} bytes: the generator takes 14..1984`);
    const len = Buffer.alloc(2);
    len.writeUInt16LE(f.length);
    parts.push(len, f);
  }
  return Buffer.concat(parts);
}

export async function writeFrameFile(path: string, frames: readonly Buffer[]): Promise<void> {
  await writeFile(path, encodeFrameFile(frames));
}
