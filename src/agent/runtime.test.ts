import { describe, expect, it } from 'vitest';
import { MemoryDataplane } from './plan/memory-io.ts';
import { vipKeyId, type DesiredVip, type Limits } from './plan/model.ts';
import { AgentRuntime, type ApplyRecord, type Log } from './runtime.ts';
import type { ApplyFeedback, DesiredStateSource, SourceEvent } from './sources/types.ts';

const limits: Limits = { maxVips: 4, maxReals: 8, ringSize: 7 };
const ring = (backends: readonly { id: string; weight: number }[], size: number): Uint32Array =>
  Uint32Array.from({ length: size }, (_, i) => i % backends.length);

function vip(backends: string[]): DesiredVip {
  return {
    id: 'default/web',
    key: { address: '10.200.0.10', family: 'IPv4', port: 80, protocol: 'TCP' },
    flags: { hash: 'FiveTuple', connectionTracking: true, quic: false, encapsulation: 'IPIP' },
    backends: backends.map((address) => ({ address, family: 'IPv4', weight: 1 })),
  };
}

/** A source fed by the test, one event at a time. */
function scriptedSource(): DesiredStateSource & { push(e: SourceEvent): void; end(): void } {
  const queue: (SourceEvent | null)[] = [];
  let wake: (() => void) | undefined;
  return {
    name: 'test',
    push: (e) => (queue.push(e), wake?.()),
    end: () => (queue.push(null), wake?.()),
    async *events() {
      for (;;) {
        while (queue.length === 0) await new Promise<void>((r) => (wake = r));
        const e = queue.shift();
        if (e === null || e === undefined) return;
        yield e;
      }
    },
  };
}

function recorder(): Log & { lines: { level: string; msg: string; obj: object }[] } {
  const lines: { level: string; msg: string; obj: object }[] = [];
  const at = (level: string) => (obj: object, msg: string) => void lines.push({ level, msg, obj });
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

describe('AgentRuntime', () => {
  it('applies states, keeps the last good one on a rejected change, and repairs drift on resync', async () => {
    const io = new MemoryDataplane(limits);
    const source = scriptedSource();
    const log = recorder();
    const records: ApplyRecord[] = [];
    const rt = new AgentRuntime({ source, io, limits, buildRing: ring, log, resyncMs: 0, onApply: (r) => records.push(r) });
    const done = rt.run(new AbortController().signal);

    expect(rt.ready).toBe(false);
    source.push({ kind: 'invalid', origin: 'm.yaml', problems: [{ code: 'MANIFEST_INVALID', where: 'm.yaml, document 1, VirtualIP web, spec.port', message: 'too big' }] });
    await settle();
    expect(rt.ready).toBe(false);
    expect(log.lines.at(-1)?.msg).toContain('m.yaml, document 1, VirtualIP web, spec.port: too big');

    source.push({ kind: 'state', origin: 'm.yaml', vips: [vip(['10.0.1.1', '10.0.1.2'])] });
    await settle();
    expect(rt.ready).toBe(true);
    expect(log.lines.at(-1)).toMatchObject({ level: 'info', msg: 'applied', obj: { vips: 1, changes: 2 + 7 + 1 + 1 } });
    const programmed = io.readLive();

    source.push({ kind: 'invalid', origin: 'm.yaml', problems: [{ code: 'NO_BACKENDS', where: 'VirtualIP default/web, spec.backendSelector', message: 'none' }] });
    await settle();
    expect(io.readLive()).toEqual(programmed);

    io.reals.delete(2); // drift: someone deleted a real behind the agent's back
    await rt.resync();
    // Index 2 is still named by the ring, so the real comes back under a fresh index.
    expect([...io.reals.values()].map((r) => r.address).sort()).toEqual(['10.0.1.1', '10.0.1.2']);
    expect(io.violation).toBe('TCP 10.200.0.10:80 slot 1 -> missing real 2'); // the tampering itself
    const slots = io.readLive().rings.get(0) ?? [];
    expect([...slots].every((r) => io.reals.has(r))).toBe(true);
    expect(records.map((r) => [r.ok, r.reason, r.generation])).toEqual([
      [true, 'source', 1],
      [true, 'resync', 1],
    ]);

    source.end();
    await done;
  });

  it('logs a failed apply and stays on the previous state', async () => {
    const io = new MemoryDataplane(limits);
    const source = scriptedSource();
    const log = recorder();
    const rt = new AgentRuntime({ source, io, limits, buildRing: ring, log, resyncMs: 0 });
    const done = rt.run(new AbortController().signal);
    source.push({ kind: 'state', origin: 'x', vips: [vip(['10.0.1.1'])] });
    await settle();
    io.putReals = () => {
      throw new Error('EPERM');
    };
    source.push({ kind: 'state', origin: 'x', vips: [vip(['10.0.2.1', '10.0.2.2'])] });
    await settle();
    expect(log.lines.at(-1)).toMatchObject({ level: 'error', obj: { err: { code: 'AGENT_APPLY_FAILED' } } });
    expect([...io.reals.values()].map((r) => r.address)).toEqual(['10.0.1.1']);
    source.end();
    await done;
  });

  it('programs everything else when one VIP cannot be, and reports that VIP by id and code (log, status feedback, metrics record)', async () => {
    const io = new MemoryDataplane(limits);
    const source = scriptedSource();
    const feedback: ApplyFeedback[] = [];
    source.report = async (f) => void feedback.push(f);
    const log = recorder();
    const records: ApplyRecord[] = [];
    const rt = new AgentRuntime({ source, io, limits, buildRing: ring, log, resyncMs: 0, onApply: (r) => records.push(r) });
    const done = rt.run(new AbortController().signal);
    const quic = (id: string, address: string, backend: string): DesiredVip => ({
      id,
      key: { address, family: 'IPv4', port: 443, protocol: 'UDP' },
      flags: { hash: 'FiveTuple', connectionTracking: true, quic: true, encapsulation: 'IPIP' },
      backends: [{ address: backend, family: 'IPv4', weight: 1, quicServerId: 7 }],
    });
    const web = vip(['10.0.1.1']);
    const squatter = { ...vip(['10.0.1.2']), id: 'team-z/web' }; // same key as default/web
    // Two namespaces' QUIC VIPs with server id 7 each: both programmed (ids are per VIP).
    source.push({ kind: 'state', origin: 'x', vips: [web, squatter, quic('team-a/qa', '10.200.0.21', '10.90.3.21'), quic('team-b/qb', '10.200.0.31', '10.90.3.31')] });
    await settle();
    expect(records.at(-1)).toMatchObject({ ok: true, rejected: { AGENT_DUPLICATE_VIP: 1 } });
    expect([...io.vips.keys()].sort()).toEqual(['TCP 10.200.0.10:80', 'UDP 10.200.0.21:443', 'UDP 10.200.0.31:443']);
    expect(io.quic.size).toBe(2);
    expect(log.lines.find((l) => l.level === 'warn')?.msg).toContain('AGENT_DUPLICATE_VIP team-z/web');
    const last = feedback.at(-1);
    expect(last?.ok).toBe(true);
    expect(last?.vips.find((v) => v.id === 'team-z/web')).toMatchObject({ code: 'AGENT_DUPLICATE_VIP', error: expect.stringContaining('already programmed for VirtualIP default/web') });
    expect(last?.vips.filter((v) => v.error === undefined).map((v) => v.id).sort()).toEqual(['default/web', 'team-a/qa', 'team-b/qb']);
    expect(rt.programmed.filter((v) => vipKeyId(v.key) === 'TCP 10.200.0.10:80').map((v) => v.id)).toEqual(['default/web']);
    source.end();
    await done;
  });

  it('runs beforeResync (the gateway MAC refresh) before every periodic resync', async () => {
    const io = new MemoryDataplane(limits);
    const source = scriptedSource();
    const log = recorder();
    const order: string[] = [];
    const rt = new AgentRuntime({
      source,
      io,
      limits,
      buildRing: ring,
      log,
      resyncMs: 30,
      beforeResync: async () => void order.push('before'),
      onApply: (r) => void order.push(r.reason),
    });
    const ac = new AbortController();
    const done = rt.run(ac.signal);
    source.push({ kind: 'state', origin: 'x', vips: [vip(['10.0.1.1'])] });
    await new Promise((r) => setTimeout(r, 100));
    source.end();
    await done;
    expect(order[0]).toBe('source');
    expect(order.filter((o) => o === 'before').length).toBeGreaterThanOrEqual(2);
    // Each resync follows its refresh.
    for (let i = 1; i < order.length; i++) if (order[i] === 'resync') expect(order[i - 1]).toBe('before');
  });
});
