// A flow count (flows.ts) named the way operators think: per backend address
// and per VIP x backend, with the real indices and raw destinations resolved
// against the live maps. Pure: tests feed it a count and a LiveState.

import type { LiveState, Protocol } from '../plan/model.ts';
import { vipKeyId } from '../plan/model.ts';
import { decodeAddr } from './codec.ts';
import { addTally, type FlowCount, type FlowTally } from './flows.ts';
import { IpProto } from './layout.ts';

export interface BackendFlows extends FlowTally {
  /** Backend address; `real#N` when the entry names a real no longer in the maps. */
  readonly backend: string;
}

export interface VipBackendFlows extends BackendFlows {
  /** namespace/name when known, else the VIP key id; the raw destination when no VIP matches. */
  readonly vip: string;
}

export interface FlowReport {
  readonly backends: readonly BackendFlows[];
  /** Empty unless the count grouped by destination. */
  readonly vips: readonly VipBackendFlows[];
  readonly entries: number;
  readonly tables: number;
  readonly recentSeconds: number;
  readonly durationMs: number;
}

export function flowReport(count: FlowCount, live: LiveState, names: ReadonlyMap<string, string> = new Map()): FlowReport {
  const backendOf = (real: number): string => live.reals.get(real)?.address ?? `real#${real}`;
  const perBackend = new Map<string, FlowTally>();
  for (const [real, t] of count.byReal) {
    const name = backendOf(real);
    perBackend.set(name, addTally(perBackend.get(name), t));
  }
  const perVip = new Map<string, FlowTally>();
  for (const [dest, reals] of count.byDestination) {
    const vip = vipOfDestination(dest, live, names);
    for (const [real, t] of reals) {
      const key = `${vip}\u0000${backendOf(real)}`;
      perVip.set(key, addTally(perVip.get(key), t));
    }
  }
  const vips = [...perVip].map(([key, t]) => {
    const [vip = '', backend = ''] = key.split('\u0000');
    return { vip, backend, ...t };
  });
  return {
    backends: [...perBackend].map(([backend, t]) => ({ backend, ...t })).sort((a, b) => (a.backend < b.backend ? -1 : a.backend > b.backend ? 1 : 0)),
    vips: vips.sort((a, b) => (a.vip === b.vip ? (a.backend < b.backend ? -1 : 1) : a.vip < b.vip ? -1 : 1)),
    entries: count.entries,
    tables: count.tables,
    recentSeconds: count.recentSeconds,
    durationMs: count.durationMs,
  };
}

/** The VIP a destination (address, port, protocol, family bytes of a flow key) belongs to: exact port, then a port-less VIP. */
function vipOfDestination(dest: string, live: LiveState, names: ReadonlyMap<string, string>): string {
  const b = Buffer.from(dest, 'latin1');
  const family = b.readUInt8(19);
  const address = decodeAddr(b.subarray(0, 16), family);
  const port = b.readUInt16BE(16);
  const protocol: Protocol = b.readUInt8(18) === IpProto.UDP ? 'UDP' : 'TCP';
  const ipFamily = family === 6 ? 'IPv6' : 'IPv4';
  for (const p of [port, 0]) {
    const id = vipKeyId({ address, family: ipFamily, port: p, protocol });
    if (live.vips.has(id)) return names.get(id) ?? id;
  }
  return `${vipKeyId({ address, family: ipFamily, port, protocol })} (no VIP)`;
}

/** The `sterlet stats` section: per VIP x backend, then per backend over every VIP. */
export function formatFlows(r: FlowReport): string {
  const lines = [
    `flows: ${r.entries} connection-table entries in ${r.tables} tables (counted in ${Math.round(r.durationMs)} ms); recent = seen in the last ${r.recentSeconds} s`,
  ];
  const ago = (t: FlowTally): string => (t.newestAgeSeconds === null ? '-' : `${Math.floor(t.newestAgeSeconds)} s ago`);
  const table = (head: string[], body: string[][]): void => {
    const widths = head.map((h, i) => Math.max(h.length, ...body.map((row) => (row[i] ?? '').length)));
    const fmt = (row: string[]): string => row.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd();
    lines.push(fmt(head), ...body.map(fmt));
  };
  if (r.vips.length > 0) {
    lines.push('');
    table(['VIP', 'BACKEND', 'flows', 'recent', 'last seen'], r.vips.map((v) => [v.vip, v.backend, String(v.flows), String(v.recent), ago(v)]));
  }
  lines.push('');
  table(['BACKEND', '', 'flows', 'recent', 'last seen'], r.backends.map((b) => [b.backend, '', String(b.flows), String(b.recent), ago(b)]));
  return lines.join('\n');
}
