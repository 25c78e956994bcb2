// The outer hash spreads flows as well as the ring hash does: outer source
// host bits, GUE source port and IPv6 flow label must take many values across
// flows that differ only a little (one client's ports, a subnet's clients),
// because a backend NIC's RSS hashes exactly these outer fields.

import { describe, expect, it } from 'vitest';
import { encodeFlowKey } from '../../src/agent/dataplane/codec.ts';
import { flowHash, gueSourcePort, hashHostBits, outerFlowLabel, outerHash } from '../bpf/harness/hash.ts';

type Population = { name: string; keys: Buffer[] };
const N = 1 << 15;
const key = (src: string, sport: number, dst = '10.200.0.10', dport = 80): Buffer => encodeFlowKey({ protocol: 'TCP', src: { address: src, port: sport }, dst: { address: dst, port: dport } });

const populations: Population[] = [
  { name: 'one client, sequential ports', keys: Array.from({ length: N }, (_, i) => key('192.0.2.7', 1024 + i)) },
  { name: 'a /16 of clients, one port', keys: Array.from({ length: N }, (_, i) => key(`198.51.${i >> 8}.${i & 255}`, 40000)) },
  { name: 'IPv6 clients, sequential ports', keys: Array.from({ length: N }, (_, i) => key(`2001:db8::${(i >> 6).toString(16)}`, 30000 + (i & 63), 'fd00::10')) },
  { name: 'one client, many VIP ports', keys: Array.from({ length: N }, (_, i) => key('192.0.2.7', 40000, '10.200.0.11', 1 + i)) },
];

/** Largest bucket over the mean when `values` fall into `buckets` buckets (1.0 = perfectly even). */
function peak(values: number[], buckets: number): number {
  const counts = new Array<number>(buckets).fill(0);
  for (const v of values) counts[v % buckets]!++;
  return Math.max(...counts) / (values.length / buckets);
}

const distinct = (values: number[]): number => new Set(values).size / values.length;

describe('outer hash spread (backend RSS)', () => {
  for (const p of populations) {
    it(`${p.name}: as even as the ring hash`, () => {
      const outer = p.keys.map(outerHash);
      const ring = p.keys.map((k) => flowHash(k, 0));
      for (const [what, f] of [
        ['outer source host bits (16)', (h: number) => hashHostBits(h, 16)],
        ['GUE source port', gueSourcePort],
        ['IPv6 flow label', outerFlowLabel],
      ] as const) {
        const o = outer.map(f);
        const r = ring.map(f);
        // 64 and 128 RSS queues: within 10% of the ring hash's peak, and never worse than 1.35x the mean.
        for (const q of [64, 128]) {
          expect(peak(o, q), `${what}, ${q} queues`).toBeLessThan(Math.max(1.35, peak(r, q) * 1.1));
        }
        expect(distinct(o), `${what}: share of distinct values`).toBeGreaterThan(distinct(r) * 0.9);
      }
    });
  }
});
