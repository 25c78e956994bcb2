// Maglev ring build time and disruption, printed as a table.
//   npm run bench:maglev [-- --runs 200]
// Times are per buildRing call after a warm-up (JIT compiled), min and median
// of `runs` calls; "ops/s" is rings built per second at the median. "cpu ms"
// is the process CPU time per call over all runs: on a busy shared machine
// wall-clock medians include time spent descheduled, CPU time does not. The
// load average is printed for the same reason.

import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { DEFAULT_RING_SIZE, buildRing, ringShares, slotsMoved, sortBackends, type MaglevBackend } from '../src/agent/plan/maglev.ts';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '100' } } });
const runs = Number(values.runs);

interface Case {
  readonly name: string;
  readonly backends: MaglevBackend[];
  readonly targetMs?: number;
}

const make = (n: number, weight: (i: number) => number = () => 1): MaglevBackend[] =>
  Array.from({ length: n }, (_, i) => ({ id: `default/backend-${i}`, weight: weight(i) }));

const cases: Case[] = [
  { name: '10 backends', backends: make(10) },
  { name: '100 backends', backends: make(100), targetMs: 2 },
  { name: '100 backends, weights 1..8', backends: make(100, (i) => 1 + (i % 8)) },
  { name: '100 backends, one at 1000x', backends: make(100, (i) => (i === 0 ? 1000 : 1)) },
  { name: '1000 backends', backends: make(1000), targetMs: 20 },
  { name: '4096 backends', backends: make(4096) },
];

function time(backends: readonly MaglevBackend[]): { min: number; median: number; cpu: number } {
  for (let i = 0; i < 20; i++) buildRing(backends, DEFAULT_RING_SIZE);
  const samples: number[] = [];
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    buildRing(backends, DEFAULT_RING_SIZE);
    samples.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  samples.sort((a, b) => a - b);
  return { min: samples[0]!, median: samples[Math.floor(samples.length / 2)]!, cpu: (cpu.user + cpu.system) / 1000 / runs };
}

const rows: string[][] = [['ring 65537 x', 'min ms', 'median ms', 'cpu ms', 'ops/s', 'target']];
for (const c of cases) {
  const t = time(c.backends);
  const verdict =
    c.targetMs === undefined
      ? ''
      : `<= ${c.targetMs} ms: min ${t.min <= c.targetMs ? 'met' : 'MISSED'}, median ${t.median <= c.targetMs ? 'met' : 'MISSED'}`;
  rows.push([c.name, t.min.toFixed(3), t.median.toFixed(3), t.cpu.toFixed(3), Math.round(1000 / t.median).toString(), verdict]);
}
printTable(rows);

// Disruption: slots that change backend when one of N is removed, against
// the 1/N that must move (the removed backend's own share).
const moves: string[][] = [['remove 1 of N', 'moved %', 'ideal %', 'moved / ideal']];
for (const n of [10, 100, 1000]) {
  const list = make(n);
  const before = { ring: buildRing(list), ids: sortBackends(list).map((b) => b.id) };
  let total = 0;
  const removedSet = [0, Math.floor(n / 2), n - 1];
  for (const removed of removedSet) {
    const rest = list.filter((_, i) => i !== removed);
    total += slotsMoved(before, { ring: buildRing(rest), ids: sortBackends(rest).map((b) => b.id) });
  }
  const moved = total / removedSet.length / DEFAULT_RING_SIZE;
  moves.push([String(n), (moved * 100).toFixed(3), (100 / n).toFixed(3), (moved * n).toFixed(2)]);
}
printTable(moves);

const shares = ringShares(buildRing(make(100)), 100);
console.log(`balance, 100 equal backends: ${Math.min(...shares)}..${Math.max(...shares)} slots each`);
console.log(`node ${process.version}, runs ${runs}, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

function printTable(table: readonly string[][]): void {
  const widths = table[0]!.map((_, col) => Math.max(...table.map((r) => r[col]!.length)));
  for (const [i, row] of table.entries()) {
    console.log(row.map((cell, col) => (col === 0 ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!))).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  console.log();
}
