// The flow cache (bpf/include/flow_cache.h) against the real kernel: repeated
// packets of an established flow are answered without the connection-table
// lookup, byte for byte as the table answers them, and the cache never sends
// a flow elsewhere than the table would: not after the program re-picks
// (a SYN on a reused port, with or without an entry), not for a real that is
// gone, not once a new atime unit starts, and not after a user-space table
// write announced with invalidateFlowCache(). Each CPU has its own table and
// cache and BPF_PROG_TEST_RUN runs on the caller's CPU, so the test process
// is pinned to one CPU.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { decodeLruVal, encodeLruVal, u32 } from '../../src/agent/dataplane/codec.ts';
import { Stat, type StatName } from '../../src/agent/dataplane/counters.ts';
import { Size } from '../../src/agent/dataplane/layout.ts';
import { hostTickNs } from '../../src/agent/host/kernel-hz.ts';
import { build } from '../../src/packet/build.ts';
import { BalancerEnv, deltas, flowKey } from './harness/balancer-env.ts';
import { clientFrame, flowTo, ringReal, type Flow } from './harness/frames.ts';
import { pinToCpu } from './harness/pin-cpu.ts';
import { SIZES, VIPS } from './harness/world.ts';

const C4 = '192.0.2.61';
const CPU = 0;

describe('flow cache', () => {
  let env: BalancerEnv | undefined;
  let unpin: (() => void) | undefined;
  beforeAll(() => {
    unpin = pinToCpu(CPU);
  });
  afterAll(() => unpin?.());
  afterEach(() => {
    env?.close();
    env = undefined;
  });

  const ack = (f: Flow): Buffer => build(clientFrame(f, { flags: 'A' }));
  const syn = (f: Flow): Buffer => build(clientFrame(f, { flags: 'S' }));
  /** Every global counter's change (0 included) between two snapshots. */
  const globalMoves = (d: ReturnType<typeof deltas>): Record<StatName, number> =>
    Object.fromEntries((Object.keys(Stat) as StatName[]).map((k) => [k, d.global[k] ?? 0])) as Record<StatName, number>;
  /** Runs one frame and returns the real it went to, with the counters it moved. */
  function send(frame: Buffer): { real: number | undefined; moved: Record<StatName, number> } {
    const before = env!.snapshot();
    expect(env!.run(frame).retval, 'forwarded').toBe(3);
    const d = deltas(before, env!.snapshot());
    const reals = Object.entries(d.real).filter(([, n]) => n > 0);
    expect(reals.length, 'one real counted the packet').toBe(1);
    return { real: Number(reals[0]![0]), moved: globalMoves(d) };
  }
  /** This CPU's table. */
  const table = () => env!.lb.lrus.get(CPU)!;
  /** A ring that sends every flow of web4 to `real`. */
  const ringAll = (real: number) => env!.setRing(VIPS.web4, Array.from({ length: SIZES.ringSize }, () => real));
  /** A fresh balancer with web4 flow `sport` cached (three ACKs), and a real its ring slot does not pick. */
  function cachedFlow(sport: number): { f: Flow; old: number; moved: number } {
    env = new BalancerEnv();
    const f = flowTo('web4', C4, sport);
    for (let i = 0; i < 3; i++) send(ack(f));
    const old = ringReal('web4', f);
    return { f, old, moved: VIPS.web4.reals.find((r) => r !== old)! };
  }

  it('answers the packets after a table hit from the cache, with the table hit’s bytes', () => {
    env = new BalancerEnv();
    const f = flowTo('web4', C4, 50001);
    const first = env.run(ack(f));
    const second = send(ack(f));
    expect(second.moved).toMatchObject({ evLruHit: 1, evFlowCacheHit: 0 });
    expect(env.run(ack(f)).data.equals(first.data), 'a cached packet leaves as the table path sent it').toBe(true);
    const fourth = send(ack(f));
    expect(fourth.moved, 'it skipped the table lookup').toMatchObject({ evLruHit: 1, evFlowCacheHit: 1, txForward: 1 });
    expect(fourth.real).toBe(ringReal('web4', f));
    const before = env.snapshot();

    for (let i = 0; i < 20; i++) {
      const r = env.run(ack(f));
      expect(r.data.equals(first.data)).toBe(true);
    }
    expect(globalMoves(deltas(before, env.snapshot()))).toMatchObject({ evLruHit: 20, evFlowCacheHit: 20, evLruMiss: 0 });
  });

  it('follows the table when a SYN on a reused port re-picks the real of an entry', () => {
    const { f, moved } = cachedFlow(50002);
    ringAll(moved);
    expect(send(syn(f)).real, 'the SYN goes to the ring').toBe(moved);
    expect(decodeLruVal(table().lookup(flowKey(f))!).real, 'and rewrote the entry').toBe(moved);
    const next = send(ack(f));
    expect(next.real, 'the ACK after it follows the rewritten entry, not the cached real').toBe(moved);
    expect(next.moved).toMatchObject({ evLruHit: 1, evFlowCacheHit: 0 });
  });

  it('drops the slot when a SYN finds no entry (an evicted flow) and goes to the ring', () => {
    const { f, moved } = cachedFlow(50003);
    // As an eviction would: the entry leaves the table, the cache is not told.
    table().delete(flowKey(f));
    ringAll(moved);
    expect(send(syn(f)).real).toBe(moved);
    expect(table().lookup(flowKey(f)), 'a SYN creates no entry').toBeUndefined();
    const next = send(ack(f));
    expect(next.real, 'the handshake ACK goes where the SYN went').toBe(moved);
    expect(next.moved).toMatchObject({ evLruMiss: 1, evFlowCacheHit: 0 });
  });

  it('does not serve a real that is gone: the ring re-picks and the entry is rewritten', () => {
    const { f, old, moved } = cachedFlow(50004);
    ringAll(moved);
    env!.lb.maps.reals.update(u32(old), Buffer.alloc(Size.realDef)); // the backend is removed
    const next = send(ack(f));
    expect(next.real).toBe(moved);
    expect(next.moved).toMatchObject({ evLruRealGone: 1, evFlowCacheHit: 0 });
    expect(send(ack(f)).real).toBe(moved);
    expect(send(ack(f)).moved, 'the rewritten entry is cached again').toMatchObject({ evFlowCacheHit: 1 });
  });

  it('mirrors a user-space table write only once invalidateFlowCache() is called', () => {
    const { f, old, moved } = cachedFlow(50005);
    const entry = decodeLruVal(table().lookup(flowKey(f))!);
    table().update(flowKey(f), encodeLruVal(moved, entry.atime));
    // Within the atime unit the slot still answers (the documented mirror delay) ...
    const stale = send(ack(f));
    expect(stale.real, 'the slot, unless a new unit began').toBe(stale.moved.evFlowCacheHit === 1 ? old : moved);
    env!.lb.invalidateFlowCache();
    // ... and after the epoch bump the table does.
    const next = send(ack(f));
    expect(next.real).toBe(moved);
    expect(next.moved).toMatchObject({ evLruHit: 1, evFlowCacheHit: 0 });
  });

  it('trusts a slot for one atime unit only: the entry’s last-seen time keeps moving', async () => {
    // A tick 1000x too long: every tick (a few ms) is thousands of atime units.
    env = new BalancerEnv({ tickNs: hostTickNs() * 1000 });
    const f = flowTo('web4', C4, 50006);
    for (let i = 0; i < 3; i++) send(ack(f));
    const seen = decodeLruVal(table().lookup(flowKey(f))!).atime;
    await sleep(50);
    const later = send(ack(f));
    expect(later.moved, 'a new unit goes through the table').toMatchObject({ evLruHit: 1, evFlowCacheHit: 0 });
    expect(decodeLruVal(table().lookup(flowKey(f))!).atime - seen).toBeGreaterThan(0);
  });

  it('is not used on a VIP without connection tracking', () => {
    env = new BalancerEnv();
    const f = flowTo('nolru4', C4, 50007);
    for (let i = 0; i < 3; i++) expect(send(ack(f)).moved).toMatchObject({ evLruSkip: 1, evFlowCacheHit: 0 });
  });
});
