// `sterlet dump` filters: which verdicts the kernel copies (a bit mask the
// program checks), and which client flows user space keeps (prefix, VIP,
// port, protocol), parsed once from the flags with errors that name the flag.

import { canonicalIp, cidrContains, parseCidr, parseIp, type ParsedCidr } from '../../api/ip.ts';
import { SterletError } from '../../common/errors.ts';
import { DecapStat, Stat, type StatName } from '../dataplane/counters.ts';
import type { FlowView } from './frame-view.ts';

const VERDICT_NAMES = (Object.keys(Stat) as StatName[]).filter((n) => /^(tx|pass|drop)/.test(n));
const GROUPS: Readonly<Record<string, readonly StatName[]>> = {
  forwarded: ['txForward', 'txIcmpErrFwd'],
  answered: ['txIcmpEcho', 'txIcmpTooBig'],
  passed: VERDICT_NAMES.filter((n) => n.startsWith('pass')),
  dropped: VERDICT_NAMES.filter((n) => n.startsWith('drop')),
};

// The decap program's verdicts (`sterlet dump --decap`): every DSTAT_* counter is one.
const DECAP_NAMES = Object.keys(DecapStat) as (keyof typeof DecapStat)[];
const DECAP_GROUPS: Readonly<Record<string, readonly string[]>> = {
  decapsulated: DECAP_NAMES.filter((n) => !/^(pass|drop)/.test(n)),
  passed: DECAP_NAMES.filter((n) => n.startsWith('pass')),
  dropped: DECAP_NAMES.filter((n) => n.startsWith('drop')),
};

/** Verdict counter numbers of a list like "forwarded,dropNoReal"; empty/undefined = every verdict. */
export function verdictMask(list: string | undefined): number {
  return mask(list, Stat, VERDICT_NAMES, GROUPS);
}

/** The same for the decap program: "decapsulated,passNotLocal"; empty/undefined = every verdict. */
export function decapVerdictMask(list: string | undefined): number {
  return mask(list, DecapStat, DECAP_NAMES, DECAP_GROUPS);
}

function mask(list: string | undefined, numbers: Readonly<Record<string, number>>, names: readonly string[], groups: Readonly<Record<string, readonly string[]>>): number {
  const given = (list ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
  const chosen = given.length === 0 ? names : given.flatMap((n) => groups[n] ?? (names.includes(n) ? [n] : unknownVerdict(n, names, groups)));
  return chosen.reduce((m, n) => m | (1 << (numbers[n] ?? 0)), 0) >>> 0;
}

function unknownVerdict(name: string, names: readonly string[], groups: Readonly<Record<string, readonly string[]>>): never {
  throw new SterletError('DUMP_BAD_VERDICT', `--verdict ${JSON.stringify(name)} is not a verdict`, {
    fix: `use ${Object.keys(groups).join(', ')}, or a counter name: ${names.join(', ')}`,
  });
}

export interface FlowFilter {
  readonly client?: ParsedCidr;
  readonly vip?: { readonly address: string; readonly port?: number; readonly proto?: number };
  readonly port?: number;
  readonly proto?: number;
}

const PROTOS: Readonly<Record<string, number>> = { tcp: 6, udp: 17, icmp: 1, icmp6: 58 };

export function parseProto(text: string, flag: string): number {
  const p = PROTOS[text.toLowerCase()];
  if (p === undefined) throw new SterletError('DUMP_BAD_FILTER', `${flag} ${JSON.stringify(text)} is not a protocol`, { fix: 'use tcp, udp, icmp or icmp6' });
  return p;
}

export function parsePort(text: string | number, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new SterletError('DUMP_BAD_FILTER', `${flag} ${String(text)} is not a port`, { fix: 'use 1-65535' });
  return n;
}

/** A client prefix: an address (= /32 or /128) or a CIDR. */
export function parseClient(text: string): ParsedCidr {
  const ip = parseIp(text);
  const cidr = parseCidr(ip === undefined ? text : `${text}/${ip.family === 'IPv4' ? 32 : 128}`);
  if (cidr === undefined) throw new SterletError('DUMP_BAD_FILTER', `--client ${JSON.stringify(text)} is not an address or prefix`, { fix: 'use e.g. 192.0.2.7 or 192.0.2.0/24' });
  return cidr;
}

/** ADDR, ADDR:PORT or ADDR:PORT/PROTO (IPv6 as [addr]:port). */
export function parseVip(text: string): NonNullable<FlowFilter['vip']> {
  const m = /^(?:\[([^\]]+)\]|([^:/\s]+))(?::(\d+))?(?:\/(\w+))?$/.exec(text.trim());
  const address = parseIp(m?.[1] ?? m?.[2] ?? '');
  if (m === null || address === undefined) {
    throw new SterletError('DUMP_BAD_FILTER', `--vip ${JSON.stringify(text)} is not ADDR[:PORT[/PROTO]]`, { fix: 'use e.g. 10.200.0.10:80/tcp or [fd00::10]:443/udp' });
  }
  return {
    address: canonicalIp(m[1] ?? m[2] ?? '') ?? '',
    ...(m[3] === undefined ? {} : { port: parsePort(m[3], '--vip') }),
    ...(m[4] === undefined ? {} : { proto: parseProto(m[4], '--vip') }),
  };
}

export function matchesFlow(view: FlowView | undefined, f: FlowFilter): boolean {
  if (f.client === undefined && f.vip === undefined && f.port === undefined && f.proto === undefined) return true;
  if (view === undefined) return false;
  if (f.client !== undefined) {
    const src = parseIp(view.src);
    if (src === undefined || !cidrContains(f.client, src)) return false;
  }
  if (f.vip !== undefined && (view.dst !== f.vip.address || (f.vip.port !== undefined && view.dport !== f.vip.port) || (f.vip.proto !== undefined && view.proto !== f.vip.proto))) return false;
  if (f.port !== undefined && view.sport !== f.port && view.dport !== f.port) return false;
  if (f.proto !== undefined && view.proto !== f.proto) return false;
  return true;
}
