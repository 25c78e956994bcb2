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

  it('programs QUIC server ids per VIP, after their reals, and removes them before', () => {
    const io = new MemoryDataplane(limits);
    const q = (ids: [string, number][]): DesiredVip[] => [vip('a/q', '10.200.0.20', ids.map(([a, id]) => be(a, 1, id)), { quic: true })];
    reconcile(q([['10.0.1.11', 7], ['10.0.1.12', 8]]), io, options);
    expect([...io.quic.values()]).toEqual([
      { vipIndex: 0, serverId: 7, realIndex: 1 },
      { vipIndex: 0, serverId: 8, realIndex: 2 },
    ]);
    const p = plan(q([['10.0.1.11', 7]]), io.readLive(), options);
    expect(kinds(p.ops)).toEqual(['quic-remove', 'ring-write', 'real-remove']);
    reconcile(q([['10.0.1.11', 7]]), io, options);
    expect(io.violation).toBeUndefined();
  });

  it('programs the same server id in two VIPs (two namespaces) to each VIP\'s own backend', () => {
    const io = new MemoryDataplane(limits);
    const desired = [
      vip('team-a/qa', '10.200.0.1', [be('10.90.3.21', 1, 7)], { quic: true }),
      vip('team-b/qb', '10.200.0.2', [be('10.90.3.31', 1, 7)], { quic: true }),
    ];
    const r = reconcile(desired, io, options);
    expect(r.first.rejected).toEqual([]);
    const indexOf = (addr: string): number => [...io.vips.values()].find((v) => v.key.address === addr)?.index ?? -1;
    const realOf = (addr: string): number => [...io.reals.values()].find((x) => x.address === addr)?.index ?? -1;
    expect(io.quic.get(`${indexOf('10.200.0.1')}/7`)?.realIndex).toBe(realOf('10.90.3.21'));
    expect(io.quic.get(`${indexOf('10.200.0.2')}/7`)?.realIndex).toBe(realOf('10.90.3.31'));
    // Removing one VIP removes only its entry.
    reconcile(desired.slice(1), io, options);
    expect([...io.quic.keys()]).toEqual([`${indexOf('10.200.0.2')}/7`]);
    expect(io.violation).toBeUndefined();
  });

  it('leaves out and reports a bad VIP or backend, and plans every other VIP (never fails as a whole)', () => {
    const good = vip('z/good', '10.200.0.30', [be('10.0.1.30')]);
    const cases: { name: string; bad: DesiredVip[]; code: string; effect: string; programmed: string[] }[] = [
      {
        name: 'duplicate VIP key: the lower id keeps it',
        bad: [vip('a/one', '10.200.0.10', [be('10.0.1.1')]), vip('b/two', '10.200.0.10', [be('10.0.1.2')])],
        code: 'AGENT_DUPLICATE_VIP',
        effect: 'VirtualIPExcluded',
        programmed: ['TCP 10.200.0.10:80', 'TCP 10.200.0.30:80'],
      },
      {
        name: 'IPv4 backend of an IPv6 VIP: the backend is left out',
        bad: [vip('a/six', 'fd00::10', [be('10.0.1.1'), be('fd00:1::1')])],
        code: 'AGENT_FAMILY_MISMATCH',
        effect: 'BackendExcluded',
        programmed: ['TCP 10.200.0.30:80', 'TCP [fd00::10]:80'],
      },
      {
        name: 'two backends of one QUIC VIP with one server id',
        bad: [vip('a/q', '10.200.0.20', [be('10.0.1.1', 1, 5), be('10.0.1.2', 1, 5)], { quic: true })],
        code: 'AGENT_DUPLICATE_QUIC_SERVER_ID',
        effect: 'BackendExcluded',
        programmed: ['TCP 10.200.0.30:80', 'UDP 10.200.0.20:80'],
      },
      {
        name: 'more backend addresses than the real table holds',
        bad: [vip('a/web', '10.200.0.10', ['1', '2', '3', '4', '5', '6', '7'].map((n) => be(`10.0.1.${n}`)))],
        code: 'AGENT_REALS_CAPACITY',
        effect: 'VirtualIPExcluded',
        programmed: ['TCP 10.200.0.30:80'],
      },
      {
        name: 'more VIPs than --max-vips',
        bad: ['1', '2', '3', '4'].map((n) => vip(`a/v${n}`, `10.200.0.${n}`, [be('10.0.1.1')])),
        code: 'AGENT_VIPS_CAPACITY',
        effect: 'VirtualIPExcluded',
        programmed: ['TCP 10.200.0.1:80', 'TCP 10.200.0.2:80', 'TCP 10.200.0.3:80', 'TCP 10.200.0.4:80'],
      },
    ];
    for (const c of cases) {
      const io = new MemoryDataplane(limits);
      const r = reconcile([...c.bad, good], io, options);
      expect(r.first.rejected, c.name).toHaveLength(1);
      expect(r.first.rejected[0], c.name).toMatchObject({ code: c.code, effect: c.effect });
      expect(r.first.rejected[0]?.message, c.name).toMatch(/left out\. [A-Z]/);
      expect([...io.vips.keys()].sort(), c.name).toEqual(c.programmed);
      expect(io.violation, c.name).toBeUndefined();
      // The rejection is stable: planning again writes nothing and reports the same.
      const again = plan([...c.bad, good], io.readLive(), options);
      expect(again.writes, c.name).toBe(0);
      expect(again.rejected, c.name).toEqual(r.first.rejected);
    }
  });

  it('reports which VIP a QUIC capacity overflow leaves out', () => {
    const io = new MemoryDataplane(limits);
    const desired = [
      vip('a/q1', '10.200.0.1', [be('10.0.1.1', 1, 1), be('10.0.1.2', 1, 2)], { quic: true }),
      vip('a/q2', '10.200.0.2', [be('10.0.1.3', 1, 1)], { quic: true }),
    ];
    const r = reconcile(desired, io, { ...options, limits: { ...limits, maxQuicReals: 2 } });
    expect(r.first.rejected).toMatchObject([{ id: 'a/q2', code: 'AGENT_QUIC_CAPACITY' }]);
    expect(io.quic.size).toBe(2);
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
