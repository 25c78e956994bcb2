// The phase schedule on a simulated clock (pure logic): each item once per
// interval at its phase, new items spread over the next interval, laps lost
// to a stall counted as skipped, rebuilds that neither repeat nor drop a probe.
import { describe, expect, it } from 'vitest';
import { PhaseSchedule } from './phase-schedule.ts';

interface Item { readonly name: string; readonly intervalMs: number; readonly phase: number }
const item = (name: string, intervalMs: number, phase: number): Item => ({ name, intervalMs, phase });

/** Runs the schedule tick by tick from `from` to `to`; returns [time, name, late] for every take. */
function run(s: PhaseSchedule<Item>, from: number, to: number, step = 1): { taken: [number, string, number][]; skipped: number } {
  const taken: [number, string, number][] = [];
  let skipped = 0;
  for (let t = from; t <= to; t += step) skipped += s.due(t, (i, late) => taken.push([t, i.name, late]));
  return { taken, skipped };
}

describe('PhaseSchedule', () => {
  it('takes each item once per interval at its phase on a grid; items already past their phase this lap wait for the next', () => {
    const s = new PhaseSchedule<Item>();
    s.set([item('a', 1000, 100), item('b', 1000, 700), item('c', 500, 250)], 10_400);
    expect(s.next()).toBe(10_700); // b; a (phase 100) and c (phase 250 of lap 10,000) wait
    const { taken, skipped } = run(s, 10_400, 12_999);
    expect(skipped).toBe(0);
    expect(taken).toEqual([
      [10_700, 'b', 0], [10_750, 'c', 0], [11_100, 'a', 0], [11_250, 'c', 0],
      [11_700, 'b', 0], [11_750, 'c', 0], [12_100, 'a', 0], [12_250, 'c', 0],
      [12_700, 'b', 0], [12_750, 'c', 0],
    ]);
  });

  it('a late tick takes what is due, with how late; a stall of whole laps counts them as skipped', () => {
    const s = new PhaseSchedule<Item>();
    s.set([item('a', 1000, 100), item('b', 1000, 600)], 0);
    expect(run(s, 0, 0).taken).toEqual([]);
    const late: [string, number][] = [];
    expect(s.due(700, (i, l) => late.push([i.name, l]))).toBe(0);
    expect(late).toEqual([['a', 600], ['b', 100]]);
    late.length = 0;
    // From 700 to 3,650: laps 1,000 and 2,000 are lost (4 probes), lap 3,000 is due up to 650.
    expect(s.due(3_650, (i, l) => late.push([i.name, l]))).toBe(4);
    expect(late).toEqual([['a', 550], ['b', 50]]);
    expect(s.next()).toBe(4_100);
  });

  it('a rebuild keeps what was taken this lap: kept items are not taken twice, a new item starts next lap if its phase passed', () => {
    const s = new PhaseSchedule<Item>();
    const a = item('a', 1000, 100);
    const b = item('b', 1000, 800);
    s.set([a, b], 0);
    expect(run(s, 0, 500).taken.map(([t, n]) => [t, n])).toEqual([[100, 'a']]);
    s.set([a, b, item('c', 1000, 300), item('d', 1000, 900)], 500);
    expect(run(s, 501, 1_999).taken.map(([t, n]) => [t, n])).toEqual([[800, 'b'], [900, 'd'], [1_100, 'a'], [1_300, 'c'], [1_800, 'b'], [1_900, 'd']]);
    s.set([b], 2_000);
    expect(run(s, 2_000, 2_999).taken.map(([t, n]) => [t, n])).toEqual([[2_800, 'b']]);
    s.set([], 3_000);
    expect(s.next()).toBe(Number.POSITIVE_INFINITY);
  });
});
