// Tables of bench/dataplane.ts: classes against this run's floors, the
// hit-path step ladder, and each entry's size after the verifier (bpftool).

import { spawnSync } from 'node:child_process';
import { Programs, type ProgramName, type Rig } from './dataplane-rig.ts';

export interface Row {
  readonly name: string;
  readonly program: ProgramName;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Median of the BENCH_COMPARE build in the same rounds. */
  readonly compare?: number;
  /** Its minimum. */
  readonly compareMin?: number;
  /** Median over rounds of this build's sample / the compare build's sample of the same round (load drift cancels). */
  readonly pairedRatio?: number;
  /**
   * Median over rounds of the sample / the restore + parse + encap floor sampled
   * right before it. Medians of class and floor taken apart can come from
   * different speed states of the machine; a pair milliseconds apart shares one.
   */
  readonly floorRatio?: number;
}

/** Hits must cost at most this many times the restore + parse + encap floor (issue 17's target). */
export const HIT_TARGET = 1.8;

const pad = (s: string | number, n: number): string => String(s).padStart(n);
const ratio = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(2)}x` : '-');
const byName = (rows: readonly Row[], prefix: string): Row => {
  const r = rows.find((x) => x.name.startsWith(prefix));
  if (!r) throw new Error(`no row ${prefix}`);
  return r;
};

export function printTable(rows: readonly Row[]): void {
  const trivial = byName(rows, 'floor: trivial').median;
  const restore = byName(rows, 'floor: restore').median;
  const encap = byName(rows, 'floor: restore + parse').median;
  const cmp = rows.some((r) => r.compare !== undefined);
  console.log('x trivial / x restore / x floor = median over this run\'s trivial program / restore-only / restore + parse + IPIP encap (no lookups) medians');
  console.log('x floor is the physical-limit measure: what the class costs over the steps every forwarded packet needs');
  console.log('adj floor = median over rounds of (sample / the floor sampled right before it): the same measure, immune to the machine changing speed between samples\n');
  console.log(
    `${'class'.padEnd(48)} ${pad('median', 6)} ${pad('min', 5)} ${pad('max', 5)} ${pad('x trivial', 9)} ${pad('x restore', 9)} ${pad('x floor', 8)} ${pad('adj floor', 9)}${cmp ? `  ${pad('compare', 7)} ${pad('delta', 6)} ${pad('cmp min', 7)} ${pad('paired', 6)}` : ''}`,
  );
  for (const r of rows.filter((x) => !x.name.startsWith('step '))) {
    const c =
      r.compare === undefined
        ? ''
        : `  ${pad(r.compare, 7)} ${pad((r.median - r.compare > 0 ? '+' : '') + (r.median - r.compare), 6)} ${pad(r.compareMin ?? '-', 7)} ${pad(r.pairedRatio === undefined ? '-' : r.pairedRatio.toFixed(2), 6)}`;
    console.log(`${r.name.padEnd(48)} ${pad(r.median, 6)} ${pad(r.min, 5)} ${pad(r.max, 5)} ${pad(ratio(r.median, trivial), 9)} ${pad(ratio(r.median, restore), 9)} ${pad(ratio(r.median, encap), 8)} ${pad(r.floorRatio === undefined ? '-' : `${r.floorRatio.toFixed(2)}x`, 9)}${cmp ? c : ''}`);
  }
  for (const name of ['v4 TCP LRU hit', 'v6 TCP LRU hit']) {
    const r = rows.find((x) => x.name === name);
    if (!r) continue;
    const adj = r.floorRatio ?? r.median / encap;
    const ok = r.median <= HIT_TARGET * encap && adj <= HIT_TARGET;
    console.log(`${ok ? 'ok  ' : 'MISS'} ${name}: ${r.median} ns = ${ratio(r.median, encap)} the floor's median, ${adj.toFixed(2)}x the adjacent floor (target <= ${HIT_TARGET}x both; ${(HIT_TARGET * encap).toFixed(0)} ns)`);
  }
  console.log('');
}

/** The ladder: each step's cost is its entry's median minus the previous entry's (the first: minus the restore floor). */
export function printSteps(rows: readonly Row[]): void {
  const restore = byName(rows, 'floor: restore');
  for (const family of ['v4', 'v6'] as const) {
    const steps = rows.filter((r) => r.name.startsWith(`step ${family}:`));
    const hit = rows.find((x) => x.name === `${family} TCP LRU hit`);
    if (steps.length === 0 || !hit) continue;
    const cmp = steps.every((s) => s.compare !== undefined) && hit.compare !== undefined && restore.compare !== undefined;
    console.log(`hit path, ${family} TCP, cumulative median and cost of each step (ns)${cmp ? '; then the same for the compare build' : ''}`);
    let prev = restore.median;
    let prevC = restore.compare ?? 0;
    const line = (name: string, r: Row): void => {
      const c = cmp ? `   ${pad(r.compare!, 5)} ${pad(`+${r.compare! - prevC}`, 5)}` : '';
      console.log(`  ${name.padEnd(46)} ${pad(r.median, 5)} ${pad(`+${r.median - prev}`, 5)}${c}`);
      prev = r.median;
      prevC = r.compare ?? 0;
    };
    console.log(`  ${'restore floor'.padEnd(46)} ${pad(restore.median, 5)}${cmp ? `         ${pad(restore.compare!, 5)}` : ''}`);
    for (const s of steps) line(s.name.slice(`step ${family}: `.length), s);
    line('full hit (+ counters, checks, LRU bookkeeping)', hit);
    console.log('');
  }
}

/** Instructions after the verifier (xlated) and JIT bytes per entry: inlining shows up here. */
export function printXlated(rig: Rig): void {
  console.log('entry (bpftool prog show)          xlated insns   jited bytes');
  for (const name of rig.programs) {
    const id = rig.program(name).info().id;
    const r = spawnSync('bpftool', ['-j', 'prog', 'show', 'id', String(id)], { encoding: 'utf8' });
    if (r.status !== 0) {
      console.log(`${Programs[name].padEnd(34)} (bpftool: ${r.stderr.trim() || r.error?.message})`);
      continue;
    }
    const info = JSON.parse(r.stdout) as { bytes_xlated?: number; bytes_jited?: number };
    console.log(`${Programs[name].padEnd(34)} ${pad((info.bytes_xlated ?? 0) / 8, 12)} ${pad(info.bytes_jited ?? '-', 13)}`);
  }
}
