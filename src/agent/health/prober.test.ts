// The prober against real loopback servers (plain sockets: the tunnel is the
// e2e tests' part): probe outcomes, hysteresis, batching, fail open.
import net from 'node:net';
import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { DesiredVip } from '../plan/model.ts';
import { runProbe } from './probe.ts';
import { HealthProber } from './prober.ts';

const plain = (): net.Socket => new net.Socket();
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined, debug: () => undefined };
const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => { s.closeAllConnections(); s.close(r); })));
});

async function httpServer(status: number, delayMs = 0): Promise<number> {
  const s = createServer((_req, res) => setTimeout(() => res.writeHead(status).end('x'), delayMs));
  servers.push(s);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as net.AddressInfo).port;
}

async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

const target = (port: number, extra: object = {}) => ({ type: 'TCP' as const, address: '127.0.0.1', family: 'IPv4' as const, port, timeoutMs: 500, ...extra });

describe('runProbe', () => {
  it('TCP: a listening port is healthy, a closed one fails with the errno', async () => {
    expect((await runProbe(target(await httpServer(200)), plain)).ok).toBe(true);
    expect(await runProbe(target(await closedPort()), plain)).toMatchObject({ ok: false, error: 'connect ECONNREFUSED' });
  });

  it('HTTP: checks the status range and times out a server that does not answer', async () => {
    const ok = await httpServer(204);
    const bad = await httpServer(503);
    const slow = await httpServer(200, 2000);
    const http = { type: 'HTTP', path: '/healthz', expectedStatus: { min: 200, max: 299 } };
    expect((await runProbe(target(ok, http), plain)).ok).toBe(true);
    expect(await runProbe(target(bad, http), plain)).toMatchObject({ ok: false, error: 'HTTP 503 (expected 200-299)' });
    expect(await runProbe(target(slow, http), plain)).toMatchObject({ ok: false, error: 'timeout after 500 ms' });
  });

  it('a socket that cannot be created is a failure, not an exception', async () => {
    const r = await runProbe(target(1), () => { throw new Error('no tunnel mark'); });
    expect(r).toEqual({ ok: false, latencyMs: 0, error: 'no tunnel mark' });
  });
});

describe('HealthProber', () => {
  const vip = (ports: number[], intervalSeconds = 1): DesiredVip => ({
    id: 'default/web',
    key: { address: '127.0.0.1', family: 'IPv4', port: 80, protocol: 'TCP' },
    flags: { hash: 'FiveTuple', connectionTracking: true, quic: false, encapsulation: 'IPIP' },
    // Each backend overrides the port, so each pair probes its own loopback server.
    backends: ports.map((port, i) => ({
      address: `10.0.1.${11 + i}`,
      family: 'IPv4',
      weight: 1,
      healthCheck: { type: 'TCP', port, intervalSeconds, timeoutSeconds: 1, healthyThreshold: 1, unhealthyThreshold: 2 },
    })),
  });

  it('takes a dead backend out after unhealthyThreshold probes, in one re-apply, and fails open when all are dead', async () => {
    const up = await httpServer(200);
    const down = await closedPort();
    let changes = 0;
    const prober = new HealthProber({ socketFor: plain, log: quiet, onChange: () => changes++ });
    const state = [vip([up, down])];
    prober.setTargets(state);
    prober.start();
    try {
      await until(() => prober.healthy('default/web', '10.0.1.12') === false, 5000);
      expect(changes).toBe(1);
      expect(prober.healthy('default/web', '10.0.1.11')).toBe(true);
      expect(prober.overlay(state).vips[0]?.backends.map((b) => b.weight)).toEqual([1, 0]);
      const snap = prober.snapshot();
      expect(snap.vips[0]?.backends[1]).toMatchObject({ healthy: false, lastError: 'connect ECONNREFUSED' });

      const allDown = [vip([down, down])];
      prober.setTargets(allDown);
      await until(() => prober.healthy('default/web', '10.0.1.11') === false, 5000);
      const r = prober.overlay(allDown);
      expect(r.failOpen).toEqual(['default/web']);
      expect(r.vips[0]?.backends.map((b) => b.weight)).toEqual([1, 1]);
      expect(prober.snapshot().vips[0]?.failOpen).toBe(true);
    } finally {
      prober.stop();
    }
  });

  it('TCP checks read alike on raw sockets and on net.Socket; a real without a tunnel mark is a failure, not an exception', async () => {
    const up = await httpServer(200);
    const down = await closedPort();
    const seen = async (o: { tcpConnect: 'sockets' | 'node'; markFor?: () => number }): Promise<(string | undefined)[]> => {
      const results = new Map<string, string | undefined>();
      const prober = new HealthProber({ socketFor: plain, log: quiet, onChange: () => undefined, ...o, hooks: { onProbe: (_v, b, r) => results.set(b, r.ok ? 'ok' : r.error) } });
      prober.setTargets([vip([up, down])]);
      prober.start();
      try {
        await until(() => results.size === 2, 5000);
      } finally {
        prober.stop();
      }
      return [results.get('10.0.1.11'), results.get('10.0.1.12')];
    };
    expect(await seen({ tcpConnect: 'sockets' })).toEqual(['ok', 'connect ECONNREFUSED']);
    expect(await seen({ tcpConnect: 'node' })).toEqual(['ok', 'connect ECONNREFUSED']);
    const noMark = (): number => { throw new Error('no tunnel mark for IPIP 10.0.1.11'); };
    expect(await seen({ tcpConnect: 'sockets', markFor: noMark })).toEqual(['no tunnel mark for IPIP 10.0.1.11', 'no tunnel mark for IPIP 10.0.1.11']);
  });

  it('counts a due probe it cannot start (in-flight limit reached) as missed', async () => {
    const slow = await httpServer(200, 3000);
    const prober = new HealthProber({ socketFor: plain, log: quiet, onChange: () => undefined, maxInFlight: 1 });
    const state = vip([slow, slow, slow, slow, slow]);
    prober.setTargets([{ ...state, backends: state.backends.map((b) => ({ ...b, healthCheck: { ...b.healthCheck!, type: 'HTTP' as const, path: '/' } })) }]);
    prober.start();
    await new Promise((r) => setTimeout(r, 1100));
    prober.stop();
    const { probes, missed } = prober.stats();
    // Every pair came due once in the first interval; one probe at a time (each holds the 1 s timeout).
    expect(probes).toBeGreaterThanOrEqual(1);
    expect(probes).toBeLessThanOrEqual(2);
    expect(missed).toBeGreaterThanOrEqual(3);
  });

  it('probes each pair once per interval, spread over it', async () => {
    const port = await httpServer(200);
    const prober = new HealthProber({ socketFor: plain, log: quiet, onChange: () => undefined });
    prober.setTargets([vip(Array.from({ length: 20 }, () => port))]);
    prober.start();
    await new Promise((r) => setTimeout(r, 2100));
    prober.stop();
    const { probes, missed } = prober.stats();
    // At least the first round for every pair, never more than one probe per pair per interval
    // (the window holds at most 3 interval starts); a loaded machine may delay timers, not add probes.
    expect(probes).toBeGreaterThanOrEqual(20);
    expect(probes).toBeLessThanOrEqual(60);
    expect(probes + missed).toBeLessThanOrEqual(60);
  });
});

async function until(ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
