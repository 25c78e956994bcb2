// One-line, tcpdump-like text of a parsed frame, for `sterlet simulate`,
// fixture failure messages and logs. Also locates the first differing byte
// of two frames by layer, so a fixture mismatch says where, not just that.

import { build } from './build.ts';
import { parseFrame } from './parse.ts';
import type { ParseOptions } from './problems.ts';
import type { Layer, Payload } from './types.ts';

const TCP_FLAG_LETTERS = 'FSRPAUEC';

function tcpFlagText(flags: string | number | undefined): string {
  if (typeof flags === 'string') return flags.toUpperCase();
  let out = '';
  for (let i = 0; i < 8; i++) if (((flags ?? 0) >> i) & 1) out += TCP_FLAG_LETTERS[i];
  return out === '' ? '.' : out;
}

function layerText(l: Layer): string {
  switch (l.kind) {
    case 'eth':
      return `eth ${l.src ?? '?'} > ${l.dst ?? '?'}${l.vlan !== undefined ? ` vlan ${l.vlan.id}` : ''}`;
    case 'arp':
      return `arp ${l.op === 1 ? 'who-has' : l.op === 2 ? 'reply' : `op ${l.op}`} ${l.targetIp} tell ${l.senderIp}`;
    case 'ipv4': {
      const frag = l.mf === true || (l.fragOffset ?? 0) > 0 ? ` frag off ${l.fragOffset ?? 0}${l.mf === true ? '+' : ''}` : '';
      return `ipv4 ${l.src} > ${l.dst} ttl ${l.ttl ?? 64}${l.df === true ? ' DF' : ''}${frag}${l.options !== undefined ? ' opts' : ''}`;
    }
    case 'ipv6':
      return `ipv6 ${l.src} > ${l.dst} hlim ${l.hopLimit ?? 64}${l.fragment !== undefined ? ` frag off ${l.fragment.offset}${l.fragment.more === true ? '+' : ''}` : ''}`;
    case 'tcp':
      return `tcp ${l.sport} > ${l.dport} [${tcpFlagText(l.flags)}] seq ${l.seq ?? 0}`;
    case 'udp':
      return `udp ${l.sport} > ${l.dport}`;
    case 'gue':
      return `gue v${l.variant ?? 0}`;
    case 'icmp':
    case 'icmp6':
      return `${l.kind} type ${l.type} code ${l.code ?? 0}${l.mtu !== undefined ? ` mtu ${l.mtu}` : ''}${l.id !== undefined ? ` id ${l.id} seq ${l.seq ?? 0}` : ''}`;
    case 'quic-long':
      return `quic-long type ${l.packetType ?? 0} dcid ${l.dcid.toString('hex')}`;
    case 'quic-short':
      return `quic-short dcid ${l.dcid.toString('hex')}`;
  }
}

/** 'eth ... | ipv4 ... | tcp ... | 15 bytes' for a layer tree (e.g. from parseFrame). */
export function describe(p: Payload): string {
  const parts: string[] = [];
  let cur: Payload | undefined = p;
  while (cur !== undefined) {
    if (Buffer.isBuffer(cur)) {
      if (cur.length > 0) parts.push(`${cur.length} bytes`);
      break;
    }
    let text = layerText(cur);
    if ((cur.kind === 'icmp' || cur.kind === 'icmp6') && cur.quoted !== undefined) text += ` quoting [${describe(cur.quoted)}]`;
    if (cur.truncated === true) text += ' (truncated)';
    parts.push(text);
    if ((cur.kind === 'icmp' || cur.kind === 'icmp6') && cur.quoted !== undefined) break;
    cur = 'payload' in cur ? cur.payload : undefined;
  }
  return parts.join(' | ');
}

/** Parse and describe an Ethernet frame in one step. */
export function describeFrame(frame: Buffer, opts: ParseOptions = {}): string {
  return describe(parseFrame(frame, opts));
}

/**
 * undefined when equal; otherwise where they first differ, with the layer that
 * byte belongs to in `expected` and both frames described.
 */
export function frameDiff(expected: Buffer | Payload, actual: Buffer, opts: ParseOptions = {}): string | undefined {
  const want = Buffer.isBuffer(expected) ? expected : build(expected);
  if (want.equals(actual)) return undefined;
  let at = 0;
  while (at < want.length && at < actual.length && want[at] === actual[at]) at++;
  const where = at >= want.length || at >= actual.length ? `length ${want.length} vs ${actual.length}` : `byte ${at}: 0x${hex2(want[at])} vs 0x${hex2(actual[at])}`;
  return [
    `frames differ at ${where} (in ${layerAt(parseFrame(want, opts), at)})`,
    `  expected: ${describeFrame(want, opts)}`,
    `  actual:   ${describeFrame(actual, opts)}`,
  ].join('\n');
}

function hex2(n: number | undefined): string {
  return (n ?? 0).toString(16).padStart(2, '0');
}

/** Path of the innermost parsed layer starting at or before `offset`. */
function layerAt(root: Layer, offset: number): string {
  const path: string[] = [];
  let cur: Payload | undefined = root;
  while (cur !== undefined && !Buffer.isBuffer(cur) && (cur.offset ?? 0) <= offset) {
    path.push(cur.kind);
    const next: Payload | undefined = 'payload' in cur ? cur.payload : undefined;
    if (next === undefined || Buffer.isBuffer(next) || (next.offset ?? Number.MAX_SAFE_INTEGER) > offset) break;
    cur = next;
  }
  return path.join('/');
}
