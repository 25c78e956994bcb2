import { describe, expect, it } from 'vitest';
import { reconcile } from './apply.ts';
import { MemoryDataplane } from './memory-io.ts';
import type { DesiredBackend, DesiredVip, Limits } from './model.ts';
import { emptyLive } from './model.ts';
import { plan, type Op } from './plan.ts';
import { FreedReals } from './reals.ts';
import { RingCache } from './rings.ts';
import { formatSummaries } from './summary.ts';

// A deliberately simple weighted ring (Maglev itself is tested in maglev.test.ts):
// slot i goes to the backend owning turn i of a weight-expanded list.
function testRing(backends: readonly { id: string; weight: number }[], size: number): Uint32Array {
  const turns: number[] = [];
  backends.forEach((b, i) => {
    for (let w = 0; w < b.weight; w++) turns.push(i);
  });
  const out = new Uint32Array(size);
  for (let i = 0; i < size; i++) out[i] = turns[i % turns.length] ?? 0;
  return out;
}

const limits: Limits = { maxVips: 4, maxReals: 6, ringSize: 13 };
const options = { limits, buildRing: testRing };

function be(address: string, weight = 1, quicServerId?: number): DesiredBackend {
  return { address, family: address.includes(':') ? 'IPv6' : 'IPv4', weight, quicServerId };
}

function vip(id: string, address: string, backends: DesiredBackend[], extra: Partial<DesiredVip['flags']> = {}): DesiredVip {
  return {
    id,
    key: { address, family: address.includes(':') ? 'IPv6' : 'IPv4', port: 80, protocol: extra.quic ? 'UDP' : 'TCP' },
    flags: { hash: 'FiveTuple', connectionTracking: true, quic: false, encapsulation: 'IPIP', ...extra },
    backends,
  };
}

const kinds = (ops: readonly Op[]): string[] => ops.map((o) => o.kind);

describe('plan', () => {
  it('orders an add as reals, rings, then the VIP', () => {
    const p = plan([vip('ns/web', '10.200.0.10', [be('10.0.1.11'), be('10.0.1.12')])], emptyLive(), options);
    expect(kinds(p.ops)).toEqual(['real-add', 'ring-write', 'vip-set', 'address-add']);
    expect(p.writes).toBe(2 + 13 + 1 + 1);
    expect([...p.expected.reals.values()].map((r) => [r.index, r.address])).toEqual([
      [1, '10.0.1.11'],
      [2, '10.0.1.12'],
    ]);
    expect(p.summaries[0]).toMatchObject({ id: 'ns/web', change: 'added', backendsAdded: ['10.0.1.11', '10.0.1.12'] });
  });

  it('is idempotent: the same state twice plans zero writes, also through the maps', () => {
    const desired = [vip('ns/web', '10.200.0.10', [be('10.0.1.11', 2), be('10.0.1.12')])];
    const io = new MemoryDataplane(limits);
    const cache = new RingCache();
    reconcile(desired, io, { ...options, cache });
    const writes = io.writes;
    expect(writes).toBeGreaterThan(0);
    const again = reconcile(desired, io, { ...options, cache });
    expect(again.writes).toBe(0);
    expect(io.writes).toBe(writes);
    // A fresh agent (no cache) reading the maps back plans nothing either.
    expect(plan(desired, io.readLive(), options).ops).toEqual([]);
  });

  it('orders a delete as VIP, ring, then reals', () => {
    const io = new MemoryDataplane(limits);
    reconcile([vip('ns/web', '10.200.0.10', [be('10.0.1.11')])], io, options);
    const p = plan([], io.readLive(), options);
    expect(kinds(p.ops)).toEqual(['vip-remove', 'address-remove', 'ring-write', 'real-remove']);
    expect(p.summaries[0]).toMatchObject({ change: 'removed', backendsRemoved: ['10.0.1.11'] });
    reconcile([], io, options);
    expect(io.violation).toBeUndefined();
    expect(io.slots.every((s) => s === 0)).toBe(true);
    expect(io.reals.size).toBe(0);
  });

  it('writes only the ring slots that differ', () => {
    const io = new MemoryDataplane(limits);
    reconcile([vip('ns/web', '10.200.0.10', [be('10.0.1.11'), be('10.0.1.12')])], io, options);
    const p = plan([vip('ns/web', '10.200.0.10', [be('10.0.1.11'), be('10.0.1.12'), be('10.0.1.13')])], io.readLive(), options);
    const ring = p.ops.find((o) => o.kind === 'ring-write');
    expect(ring?.kind === 'ring-write' && ring.slots !== undefined).toBe(true);
    if (ring?.kind !== 'ring-write' || ring.slots === undefined) return;
    const live = io.readLive().rings.get(0);
    for (let i = 0; i < 13; i++) expect(ring.slots.includes(i)).toBe(live?.[i] !== ring.ring[i]);
    expect(kinds(p.ops)).toEqual(['real-add', 'ring-write']);
  });

  it('keeps real indices stable per address and shares them across VIPs', () => {
    const io = new MemoryDataplane(limits);
    reconcile([vip('a/one', '10.200.0.1', [be('10.0.1.12'), be('10.0.1.11')])], io, options);
    const before = new Map([...io.reals.values()].map((r) => [r.address, r.index]));
    reconcile(
      [vip('a/one', '10.200.0.1', [be('10.0.1.11'), be('10.0.1.12')]), vip('a/two', '10.200.0.2', [be('10.0.1.12')])],
      io,
      options,
    );
    expect(io.reals.size).toBe(2);
    for (const r of io.reals.values()) expect(before.get(r.address)).toBe(r.index);
  });

  it('does not reuse a freed real index in the apply that frees it, only in the next', () => {
    const io = new MemoryDataplane(limits);
    reconcile([vip('a/web', '10.200.0.10', [be('10.0.1.11'), be('10.0.1.12')])], io, options);
    const swap = plan([vip('a/web', '10.200.0.10', [be('10.0.1.11'), be('10.0.1.13')])], io.readLive(), options);
    const added = swap.ops.find((o) => o.kind === 'real-add');
    expect(added?.kind === 'real-add' && added.reals.map((r) => r.index)).toEqual([3]);
    expect(swap.ops.at(-1)).toEqual({ kind: 'real-remove', indices: [2] });
    reconcile([vip('a/web', '10.200.0.10', [be('10.0.1.11'), be('10.0.1.13')])], io, options);
    reconcile([vip('a/web', '10.200.0.10', [be('10.0.1.11'), be('10.0.1.13'), be('10.0.1.14')])], io, options);
    expect(io.reals.get(2)?.address).toBe('10.0.1.14');
    expect(io.violation).toBeUndefined();
  });

  it('reuses the real index freed longest ago first (FIFO), after never-used ones', () => {
    const small: Limits = { maxVips: 4, maxReals: 4, ringSize: 13 };
    const freed = new FreedReals();
    const o = { limits: small, buildRing: testRing, freed };
    const io = new MemoryDataplane(small);
    const web = (...last: string[]): DesiredVip[] => [vip('a/web', '10.200.0.10', last.map((n) => be(`10.0.1.${n}`)))];
    reconcile(web('1', '2', '3', '4'), io, o); // indices 1..4, the table is full
    reconcile(web('1', '2', '4'), io, o); // frees 3
    reconcile(web('2', '4'), io, o); // then frees 1
    expect(freed.order()).toEqual([3, 1]);
    // Lowest-first would hand out 1, the index freed last (its stale flows are the youngest).
    reconcile(web('2', '4', '5'), io, o);
    expect(io.reals.get(3)?.address).toBe('10.0.1.5');
    reconcile(web('2', '4', '5', '6'), io, o);
    expect(io.reals.get(1)?.address).toBe('10.0.1.6');
    // Freed again: 4 goes to the back of the queue behind nothing else free.
    reconcile(web('2', '5', '6'), io, o);
    reconcile(web('5', '6'), io, o); // frees 2 after 4
    expect(freed.order().slice(-2)).toEqual([4, 2]);
    reconcile(web('5', '6', '7'), io, o);
    expect(io.reals.get(4)?.address).toBe('10.0.1.7');
    expect(io.violation).toBeUndefined();
  });

  it('takes never-used real indices before any it saw freed', () => {
    const freed = new FreedReals();
    const o = { ...options, freed };
    const io = new MemoryDataplane(limits);
    reconcile([vip('a/web', '10.200.0.10', [be('10.0.1.11'), be('10.0.1.12')])], io, o);
    reconcile([vip('a/web', '10.200.0.10', [be('10.0.1.12')])], io, o); // frees 1
    reconcile([vip('a/web', '10.200.0.10', [be('10.0.1.12'), be('10.0.1.13')])], io, o);
    expect(io.reals.get(3)?.address).toBe('10.0.1.13');
    expect(io.reals.has(1)).toBe(false);
  });

  it('keeps a drained backend as a real without ring slots', () => {
    const io = new MemoryDataplane(limits);
    reconcile([vip('a/web', '10.200.0.10', [be('10.0.1.11'), be('10.0.1.12')])], io, options);
    const p = plan([vip('a/web', '10.200.0.10', [be('10.0.1.11'), be('10.0.1.12', 0)])], io.readLive(), options);
    expect(kinds(p.ops)).toEqual(['ring-write']);
    expect(p.summaries[0]).toMatchObject({ change: 'changed', drained: ['10.0.1.12'] });
    reconcile([vip('a/web', '10.200.0.10', [be('10.0.1.11'), be('10.0.1.12', 0)])], io, options);
    expect([...io.reals.values()].map((r) => r.address)).toEqual(['10.0.1.11', '10.0.1.12']);
    expect(io.readLive().rings.get(0)?.every((s) => s === 1)).toBe(true);
  });

  it('summarizes reweights, added backends, flags and moved slots', () => {
    const io = new MemoryDataplane({ ...limits, ringSize: 251 });
    const o = { ...options, limits: { ...limits, ringSize: 251 } };
    reconcile([vip('a/web', '10.200.0.10', [be('10.0.1.11'), be('10.0.1.12')])], io, o);
    const p = plan(
      [vip('a/web', '10.200.0.10', [be('10.0.1.11', 3), be('10.0.1.12'), be('10.0.1.13')], { hash: 'SourceAddress' })],
      io.readLive(),
      o,
    );
    const s = p.summaries[0];
    expect(s).toMatchObject({ change: 'changed', backendsAdded: ['10.0.1.13'], backendsRemoved: [] });
    expect(s?.reweighted.map((r) => r.address)).toEqual(['10.0.1.11', '10.0.1.12']);
    expect(s?.flagsChanged).toEqual(['hash: FiveTuple -> SourceAddress']);
    expect(s?.slotsMoved).toBeGreaterThan(0);
    expect(s?.slotsMoved).toBeLessThanOrEqual(1);
    const text = formatSummaries(p.summaries);
    expect(text).toContain('+ backend 10.0.1.13');
    expect(text).toContain('reweighted');
    expect(text).toMatch(/changed\s+a\/web .*% of ring slots move/);
    expect(formatSummaries(plan([vip('a/web', '10.200.0.10', [be('10.0.1.11'), be('10.0.1.12')])], io.readLive(), o).summaries)).toBe(
      'no changes\n1 VIP(s) unchanged',
    );
  });

  it('changes flags with a VIP update after the ring, without touching reals', () => {
    const io = new MemoryDataplane(limits);
    reconcile([vip('a/web', '10.200.0.10', [be('10.0.1.11')])], io, options);
    const p = plan([vip('a/web', '10.200.0.10', [be('10.0.1.11')], { connectionTracking: false })], io.readLive(), options);
    expect(kinds(p.ops)).toEqual(['vip-set']);
    expect(p.writes).toBe(1);
  });

  it('programs QUIC server ids after their reals and removes them before', () => {
    const io = new MemoryDataplane(limits);
    const q = (ids: [string, number][]): DesiredVip[] => [vip('a/q', '10.200.0.20', ids.map(([a, id]) => be(a, 1, id)), { quic: true })];
    reconcile(q([['10.0.1.11', 7], ['10.0.1.12', 8]]), io, options);
    expect([...io.quic]).toEqual([
      [7, 1],
      [8, 2],
    ]);
    const p = plan(q([['10.0.1.11', 7]]), io.readLive(), options);
    expect(kinds(p.ops)).toEqual(['quic-remove', 'ring-write', 'real-remove']);
    reconcile(q([['10.0.1.11', 7]]), io, options);
    expect(io.violation).toBeUndefined();
  });

  it('validates capacity and conflicts before planning any write', () => {
    const four = ['1', '2', '3', '4', '5'].map((n) => vip(`a/v${n}`, `10.200.0.${n}`, [be('10.0.1.1')]));
    expect(() => plan(four, emptyLive(), options)).toThrow(expect.objectContaining({ code: 'AGENT_VIPS_CAPACITY' }));
    const many = [vip('a/web', '10.200.0.10', ['1', '2', '3', '4', '5', '6', '7'].map((n) => be(`10.0.1.${n}`)))];
    expect(() => plan(many, emptyLive(), options)).toThrow(expect.objectContaining({ code: 'AGENT_REALS_CAPACITY' }));
    const dup = [vip('a/one', '10.200.0.10', [be('10.0.1.1')]), vip('b/two', '10.200.0.10', [be('10.0.1.2')])];
    expect(() => plan(dup, emptyLive(), options)).toThrow(/a\/one and b\/two both claim TCP 10.200.0.10:80/);
    const v6 = [vip('a/six', 'fd00::10', [be('10.0.1.1')])];
    expect(() => plan(v6, emptyLive(), options)).toThrow(expect.objectContaining({ code: 'AGENT_FAMILY_MISMATCH' }));
    const quic = [
      vip('a/q1', '10.200.0.1', [be('10.0.1.1', 1, 5)], { quic: true }),
      vip('a/q2', '10.200.0.2', [be('10.0.1.2', 1, 5)], { quic: true }),
    ];
    expect(() => plan(quic, emptyLive(), options)).toThrow(expect.objectContaining({ code: 'AGENT_QUIC_SERVER_ID_CONFLICT' }));
  });

  it('reuses a removed VIP index only when no never-used index is left', () => {
    const io = new MemoryDataplane(limits);
    const vips = ['1', '2', '3', '4'].map((n) => vip(`a/v${n}`, `10.200.0.${n}`, [be(`10.0.1.${n}`)]));
    reconcile(vips.slice(0, 3), io, options);
    const p = plan([...vips.slice(1, 3), vips[3]!], io.readLive(), options);
    expect(p.expected.vips.get('TCP 10.200.0.4:80')?.index).toBe(3);
    reconcile([...vips.slice(1, 4)], io, options);
    const full = [...vips.slice(1, 4), vip('a/v5', '10.200.0.5', [be('10.0.1.5')])];
    reconcile(full, io, options);
    const swapped = [...vips.slice(2, 4), vip('a/v5', '10.200.0.5', [be('10.0.1.5')]), vip('a/v6', '10.200.0.6', [be('10.0.1.6')])];
    const q = plan(swapped, io.readLive(), options);
    expect(q.expected.vips.get('TCP 10.200.0.6:80')?.index).toBe(1);
    expect(kinds(q.ops)[0]).toBe('vip-remove');
    reconcile(swapped, io, options);
    expect(io.violation).toBeUndefined();
  });
});

describe('reconcile', () => {
  it('swaps a backend in a full real table in two passes, never pointing at a missing real', () => {
    const io = new MemoryDataplane(limits);
    const full = ['1', '2', '3', '4', '5', '6'].map((n) => be(`10.0.1.${n}`));
    reconcile([vip('a/web', '10.200.0.10', full)], io, options);
    const swapped = [...full.slice(1), be('10.0.1.7')];
    const first = plan([vip('a/web', '10.200.0.10', swapped)], io.readLive(), options);
    expect(first.deferred).toEqual(['10.0.1.7']);
    const result = reconcile([vip('a/web', '10.200.0.10', swapped)], io, options);
    expect(result.attempts).toBe(1);
    expect(io.violation).toBeUndefined();
    expect(io.reals.get(1)?.address).toBe('10.0.1.7');
    expect(plan([vip('a/web', '10.200.0.10', swapped)], io.readLive(), options).ops).toEqual([]);
  });

  it('converges after a failure in the middle of an apply and never exposes a missing real', () => {
    for (const failAt of [1, 2, 5, 14, 17, 20]) {
      const io = new MemoryDataplane(limits);
      reconcile([vip('a/web', '10.200.0.10', [be('10.0.1.11'), be('10.0.1.12')]), vip('a/api', '10.200.0.11', [be('10.0.1.13')])], io, options);
      io.failAfterWrites = io.writes + failAt;
      const desired = [vip('a/web', '10.200.0.10', [be('10.0.1.11'), be('10.0.1.14')]), vip('a/new', '10.200.0.12', [be('10.0.1.15')])];
      const retries: unknown[] = [];
      const result = reconcile(desired, io, { ...options, onRetry: (e) => retries.push(e) });
      expect(retries).toHaveLength(1);
      expect(result.attempts).toBe(2);
      expect(io.violation).toBeUndefined();
      expect(plan(desired, io.readLive(), options).ops).toEqual([]);
    }
  });

  it('gives up with AGENT_APPLY_FAILED when every attempt fails', () => {
    const io = new MemoryDataplane(limits);
    io.putReals = () => {
      throw new Error('EPERM');
    };
    expect(() => reconcile([vip('a/web', '10.200.0.10', [be('10.0.1.11')])], io, { ...options, maxAttempts: 3 })).toThrow(
      expect.objectContaining({ code: 'AGENT_APPLY_FAILED' }),
    );
  });
});

describe('address entries', () => {
  it('keeps one entry per VIP address while any VIP uses it', () => {
    const io = new MemoryDataplane(limits);
    const web = vip('a/web', '10.200.0.10', [be('10.0.1.11')]);
    const dns = { ...vip('a/dns', '10.200.0.10', [be('10.0.1.12')]), key: { ...web.key, port: 53, protocol: 'UDP' as const } };
    reconcile([web, dns], io, options);
    expect([...io.addresses]).toEqual(['10.200.0.10']);
    expect(kinds(plan([web], io.readLive(), options).ops)).toEqual(['vip-remove', 'ring-write', 'real-remove']);
    reconcile([web], io, options);
    expect([...io.addresses]).toEqual(['10.200.0.10']);
    reconcile([], io, options);
    expect(io.addresses.size).toBe(0);
  });
});
