// Parse options, the problems verifyChecksums() reports, and the helpers the
// parser uses to record them while it walks a frame.

import { internetChecksum } from './checksum.ts';

export interface ParseOptions {
  /** UDP destination ports that carry GUE (default [6080]). */
  readonly guePorts?: readonly number[];
  /** UDP ports (source or destination) whose payload is QUIC (default [443]). */
  readonly quicPorts?: readonly number[];
  /** DCID length of QUIC short headers, which do not carry it (default 8). */
  readonly quicDcidLength?: number;
  /** Accept a zero UDP checksum over IPv6 (RFC 6935 allows it for tunnels). Default false. */
  readonly allowZeroUdp6Checksum?: boolean;
}

export interface PacketProblem {
  /** Layer path, e.g. 'eth/ipv4/udp/gue/ipv6/tcp' or 'eth/ipv4/icmp/quoted-ipv4'. */
  readonly path: string;
  readonly offset: number;
  readonly kind: 'checksum' | 'truncated' | 'zero-checksum';
  /** Checksum found in the packet and the correct one (for kind 'checksum'). */
  readonly found?: number;
  readonly expected?: number;
  readonly message: string;
}

export interface Ctx {
  readonly opts: ParseOptions;
  readonly problems: PacketProblem[];
  readonly path: string;
  /** Inside an ICMP error's quote: truncation is normal and not a problem. */
  readonly quoted: boolean;
}

export function sub(ctx: Ctx, name: string, quoted = ctx.quoted): Ctx {
  return { ...ctx, path: ctx.path === '' ? name : `${ctx.path}/${name}`, quoted };
}

export function truncated(ctx: Ctx, offset: number, what: string): void {
  if (!ctx.quoted) ctx.problems.push({ path: ctx.path, offset, kind: 'truncated', message: `${ctx.path}: ${what}` });
}

/** Record a checksum problem unless `parts` (checksum field included) sum to zero. */
export function checkSum(ctx: Ctx, offset: number, found: number, parts: Buffer[], fieldAt: number): void {
  if (internetChecksum(...parts) === 0) return;
  // Recompute with the field zeroed to report the value that would be right.
  const last = Buffer.from(parts[parts.length - 1]!);
  last.writeUInt16BE(0, fieldAt);
  let expected = internetChecksum(...parts.slice(0, -1), last);
  if (expected === 0 && ctx.path.endsWith('udp')) expected = 0xffff;
  ctx.problems.push({
    path: ctx.path,
    offset,
    kind: 'checksum',
    found,
    expected,
    message: `${ctx.path}: checksum 0x${hex4(found)}, expected 0x${hex4(expected)}`,
  });
}

const hex4 = (n: number): string => n.toString(16).padStart(4, '0');
