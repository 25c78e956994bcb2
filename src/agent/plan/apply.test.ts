// apply.ts on its own: executeOps calls the DataplaneIO once per op in plan
// order and records freed reals; reconcile retries a failed apply from a
// fresh read-back until it converges, and gives up with a coded error;
// reconcileAsync does the same while letting the event loop run in between.
import { describe, expect, it } from 'vitest';
import { executeOps, reconcile, reconcileAsync, type DataplaneIO } from './apply.ts';
import { MemoryDataplane } from './memory-io.ts';
import type { DesiredBackend, DesiredVip, Limits, LiveState } from './model.ts';
import { emptyLive } from './model.ts';
import { plan } from './plan.ts';
import { FreedReals } from './reals.ts';

const limits: Limits = { maxVips: 4, maxReals: 4, ringSize: 7 };
// Slot i -> backend i mod n: enough to see which reals a ring names.
const roundRobin = (backends: readonly unknown[], size: number): Uint32Array => Uint32Array.from({ length: size }, (_, i) => i % backends.length);
const options = { limits, buildRing: roundRobin };

const be = (address: string, weight = 1): DesiredBackend => ({ address, family: 'IPv4', weight, quicServerId: undefined });
const vip = (id: string, address: string, backends: DesiredBackend[]): DesiredVip => ({
  id,
  key: { address, family: 'IPv4', port: 80, protocol: 'TCP' },
  flags: { hash: 'FiveTuple', connectionTracking: true, quic: false, encapsulation: 'IPIP' },
  backends,
});

/** A DataplaneIO that records each call by name and delegates to the in-memory maps. */
function recording(inner: MemoryDataplane): { io: DataplaneIO; calls: string[] } {
  const calls: string[] = [];
  const io = new Proxy(inner, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function' || prop === 'readLive') return typeof value === 'function' ? value.bind(target) : value;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as DataplaneIO;
  return { io, calls };
}

describe('executeOps', () => {
  it('makes one IO call per op, in plan order (reals, rings, VIPs)', () => {
    const p = plan([vip('ns/a', '10.200.0.1', [be('10.0.0.1'), be('10.0.0.2')])], emptyLive(), options);
    const { io, calls } = recording(new MemoryDataplane(limits));
    executeOps(io, p.ops);
    expect(calls).toEqual(['putReals', 'writeRing', 'putVips', 'putAddresses']);
  });

  it('deletes in reverse order and tells FreedReals which indices it freed', () => {
    const mem = new MemoryDataplane(limits);
    const live = reconcile([vip('ns/a', '10.200.0.1', [be('10.0.0.1'), be('10.0.0.2')])], mem, options).live;
    const p = plan([], live, options);
    const { io, calls } = recording(mem);
    const freed = new FreedReals();
    executeOps(io, p.ops, freed);
    // The ring is cleared before its reals go, so no slot names a freed index.
    expect(calls).toEqual(['deleteVips', 'deleteAddresses', 'writeRing', 'deleteReals']);
    expect(mem.readLive().reals.size).toBe(0);
    // Never-used indices (3, 4) go first, then the freed ones oldest first: 1 before 2.
    const three = [be('10.0.0.7'), be('10.0.0.8'), be('10.0.0.9')];
    const again = plan([vip('ns/b', '10.200.0.2', three)], mem.readLive(), { ...options, freed });
    expect([...again.expected.reals.keys()].sort()).toEqual([1, 3, 4]);
  });
});

describe('reconcile', () => {
  it('finishes a half-done apply: after a failed write it re-reads the maps and plans the rest', () => {
    const mem = new MemoryDataplane(limits);
    mem.failAfterWrites = 3; // the reals land, the ring write fails
    const retries: number[] = [];
    const r = reconcile([vip('ns/a', '10.200.0.1', [be('10.0.0.1'), be('10.0.0.2')])], mem, { ...options, onRetry: (_e, n) => retries.push(n) });
    expect(retries).toEqual([1]);
    expect(r.attempts).toBe(2);
    const live = mem.readLive();
    expect(live.vips.size).toBe(1);
    expect(live.reals.size).toBe(2);
    expect([...live.rings.values()][0]).toEqual(r.live.rings.values().next().value);
  });

  it('gives up after maxAttempts with AGENT_APPLY_FAILED and the cause', () => {
    const failing: DataplaneIO = {
      readLive: () => emptyLive(),
      deleteVips: () => undefined,
      putVips: () => undefined,
      deleteAddresses: () => undefined,
      putAddresses: () => undefined,
      putReals: () => {
        throw new Error('ENOMEM on reals');
      },
      deleteReals: () => undefined,
      writeRing: () => undefined,
      putQuic: () => undefined,
      deleteQuic: () => undefined,
    };
    expect(() => reconcile([vip('ns/a', '10.200.0.1', [be('10.0.0.1')])], failing, { ...options, maxAttempts: 3 })).toThrow(
      expect.objectContaining({ code: 'AGENT_APPLY_FAILED', cause: expect.objectContaining({ message: 'ENOMEM on reals' }) }),
    );
  });

  it('replaces every backend of a full real table in two passes (free, then fill)', () => {
    const mem = new MemoryDataplane(limits);
    const full = [be('10.0.0.1'), be('10.0.0.2'), be('10.0.0.3'), be('10.0.0.4')]; // limits.maxReals usable indices, all taken
    reconcile([vip('ns/a', '10.200.0.1', full)], mem, options);
    const replaced = [be('10.0.1.1'), be('10.0.1.2'), be('10.0.1.3'), be('10.0.1.4')];
    const r = reconcile([vip('ns/a', '10.200.0.1', replaced)], mem, options);
    expect([...mem.readLive().reals.values()].map((x) => x.address).sort()).toEqual(['10.0.1.1', '10.0.1.2', '10.0.1.3', '10.0.1.4']);
    expect(r.first.deferred.length).toBeGreaterThan(0);
  });

  it('leaves out and reports a VIP that needs more real indices than the maps hold, writing none of it', () => {
    const mem = new MemoryDataplane(limits);
    const tooMany = [1, 2, 3, 4, 5].map((i) => be(`10.0.0.${i}`));
    const r = reconcile([vip('ns/a', '10.200.0.1', tooMany), vip('ns/b', '10.200.0.2', [be('10.0.9.1')])], mem, options);
    expect(r.rejected.map((x) => x.id)).toEqual(['ns/a']);
    const live: LiveState = mem.readLive();
    expect([...live.vips.values()].map((v) => v.key.address)).toEqual(['10.200.0.2']);
    expect([...live.reals.values()].map((x) => x.address)).toEqual(['10.0.9.1']);
  });
});

describe('reconcileAsync', () => {
  const state = [vip('ns/a', '10.200.0.1', [be('10.0.0.1'), be('10.0.0.2')]), vip('ns/b', '10.200.0.2', [be('10.0.0.3')])];

  it('programs what reconcile programs', async () => {
    const sync = new MemoryDataplane(limits);
    const async = new MemoryDataplane(limits);
    const a = reconcile(state, sync, options);
    const b = await reconcileAsync(state, async, options);
    expect(b.writes).toBe(a.writes);
    expect(async.readLive()).toEqual(sync.readLive());
  });

  it('lets callbacks already queued run before its map writes (reconcile runs in one piece)', async () => {
    const writesSeen = async (run: (io: DataplaneIO) => Promise<unknown>): Promise<boolean[]> => {
      let ran = false;
      setImmediate(() => (ran = true));
      const seen: boolean[] = [];
      const { io } = recording(new MemoryDataplane(limits));
      const spy = new Proxy(io, {
        get: (target, prop, receiver) => {
          const value = Reflect.get(target, prop, receiver) as unknown;
          if (prop !== 'writeRing' || typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            seen.push(ran);
            return (value as (...a: unknown[]) => unknown)(...args);
          };
        },
      });
      await run(spy);
      return seen;
    };
    expect(await writesSeen(async (io) => reconcile(state, io, options))).toEqual([false, false]);
    expect(await writesSeen((io) => reconcileAsync(state, io, { ...options, sliceMs: 0 }))).toEqual([true, true]);
  });

  it('retries a failed op from a fresh read-back, like reconcile', async () => {
    const mem = new MemoryDataplane(limits);
    let failures = 1;
    const flaky = new Proxy(mem, {
      get: (target, prop, receiver) => {
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (prop === 'putVips' && failures-- > 0) throw new Error('EINTR on vips');
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const r = await reconcileAsync(state, flaky, { ...options, sliceMs: 0 });
    expect(r.attempts).toBe(2);
    expect([...mem.readLive().vips.values()].map((v) => v.key.address).sort()).toEqual(['10.200.0.1', '10.200.0.2']);
  });
});
