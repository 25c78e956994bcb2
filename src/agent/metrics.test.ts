import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SterletError } from '../common/errors.ts';
import { startEndpoints, type EndpointsServer } from '../common/http-endpoints.ts';
import { createAgentMetrics, type DataplaneCounters } from './metrics.ts';

const web = { namespace: 'default', name: 'web', address: '10.200.0.10', port: '80', protocol: 'TCP' };
const counters: DataplaneCounters = {
  vips: [{ ...web, packets: 120n, bytes: 9_000n }],
  backends: [
    { address: '10.0.1.11', packets: 70n, bytes: 5_000n },
    { address: '10.0.1.12', packets: 50, bytes: 4_000 },
  ],
  pairs: [
    { namespace: 'default', name: 'web', backend: 'web-1', address: '10.0.1.11', weight: 1, slots: 126 },
    { namespace: 'default', name: 'web', backend: 'web-2', address: '10.0.1.12', weight: 0, slots: 0 },
  ],
  verdicts: [
    { verdict: 'tx', reason: 'forwarded', packets: 120n, bytes: 9_000n },
    { verdict: 'drop', reason: 'ipv4_fragment', packets: 3n, bytes: 180n },
  ],
  events: [
    { event: 'conntrack_hit', count: 100n },
    { event: 'conntrack_miss', count: 20n },
  ],
  rings: [{ namespace: 'default', name: 'web', fingerprint: 'b18edc9e143ff0e1' }],
};

const servers: EndpointsServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(opts: Parameters<typeof createAgentMetrics>[0], ready = () => true): Promise<EndpointsServer> {
  const metrics = createAgentMetrics({ processMetrics: false, ...opts });
  const server = await startEndpoints({ port: 0, host: '127.0.0.1', registry: metrics.registry, ready });
  servers.push(server);
  return server;
}

describe('createAgentMetrics', () => {
  it('records apply duration, errors and generations', async () => {
    const m = createAgentMetrics({ processMetrics: false });
    m.applyDuration.observe({ result: 'success' }, 0.004);
    m.applyErrors.inc({ code: 'APPLY_MAP_WRITE_FAILED' });
    m.desiredGeneration.set(7);
    m.appliedGeneration.set(6);
    expect(await m.registry.metrics()).toContain('sterlet_agent_ready 0');
    m.ready.set(1);
    const text = await m.registry.metrics();
    expect(text).toContain('sterlet_agent_ready 1');
    expect(text).toContain('sterlet_agent_apply_duration_seconds_bucket{le="0.005",result="success"} 1');
    expect(text).toContain('sterlet_agent_apply_errors_total{code="APPLY_MAP_WRITE_FAILED"} 1');
    expect(text).toContain('sterlet_agent_desired_generation 7');
    expect(text).toContain('sterlet_agent_applied_generation 6');
  });

  it('mirrors dataplane counters, reading them once per scrape', async () => {
    let reads = 0;
    let current = counters;
    const m = createAgentMetrics({
      processMetrics: false,
      readCounters: async () => {
        reads++;
        return current;
      },
    });
    const text = await m.registry.metrics();
    expect(reads).toBe(1);
    const vip = 'namespace="default",name="web",address="10.200.0.10",port="80",protocol="TCP"';
    expect(text).toContain(`sterlet_vip_packets_total{${vip}} 120`);
    expect(text).toContain(`sterlet_vip_bytes_total{${vip}} 9000`);
    // Backend series are keyed by address alone: VIP membership changes leave their identity alone.
    expect(text).toContain('sterlet_backend_packets_total{address="10.0.1.12"} 50');
    expect(text).toContain('sterlet_vip_backend_ring_slots{namespace="default",name="web",backend="web-1",address="10.0.1.11"} 126');
    expect(text).toContain('sterlet_vip_backend_weight{namespace="default",name="web",backend="web-2",address="10.0.1.12"} 0');
    expect(text).toContain('sterlet_packets_total{verdict="drop",reason="ipv4_fragment"} 3');
    expect(text).toContain('sterlet_bytes_total{verdict="tx",reason="forwarded"} 9000');
    expect(text).toContain('sterlet_dataplane_events_total{event="conntrack_hit"} 100');
    expect(text).toContain('sterlet_ring_info{namespace="default",name="web",fingerprint="b18edc9e143ff0e1"} 1');
    expect(text).not.toContain('vip="');

    // The next scrape shows the new values, not a sum with the old ones.
    await new Promise((r) => setImmediate(r));
    current = { ...counters, events: [{ event: 'conntrack_hit', count: 150n }], rings: [] };
    const second = await m.registry.metrics();
    expect(reads).toBe(2);
    expect(second).toContain('sterlet_dataplane_events_total{event="conntrack_hit"} 150');
    expect(second).not.toContain('sterlet_ring_info{');
  });

  it('keeps serving when the maps cannot be read, and counts it', async () => {
    const errors: unknown[] = [];
    const m = createAgentMetrics({
      processMetrics: false,
      readCounters: () => {
        throw new Error('map fd closed');
      },
      onReadError: (err) => errors.push(err),
    });
    const text = await m.registry.metrics();
    expect(text).toContain('sterlet_dataplane_read_errors_total 1');
    expect(text).toContain('sterlet_agent_apply_errors_total');
    expect(errors).toHaveLength(1);
  });

  it('includes process metrics by default', async () => {
    const text = await createAgentMetrics().registry.metrics();
    expect(text).toContain('sterlet_agent_process_resident_memory_bytes');
  });
});

describe('startEndpoints with the agent metrics', () => {
  it('serves /metrics, /healthz and /readyz on an ephemeral loopback port', async () => {
    let ready = false;
    const server = await serve({ readCounters: () => counters }, () => ready);
    expect(server.port).toBeGreaterThan(0);

    const metrics = await fetch(`${server.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    expect(await metrics.text()).toContain('sterlet_dataplane_events_total{event="conntrack_hit"} 100');

    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
    ready = true;
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    expect((await fetch(`${server.url}/nope`)).status).toBe(404);
    expect((await fetch(`${server.url}/metrics`, { method: 'POST' })).status).toBe(405);
  });

  it('reports not ready when the readiness callback throws', async () => {
    const server = await serve({}, () => {
      throw new Error('boom');
    });
    expect((await fetch(`${server.url}/readyz`)).status).toBe(503);
  });

  it('stops when the signal aborts', async () => {
    const ac = new AbortController();
    const metrics = createAgentMetrics({ processMetrics: false });
    const server = await startEndpoints({ port: 0, host: '127.0.0.1', registry: metrics.registry, ready: () => true, signal: ac.signal });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    ac.abort();
    await server.close();
    await expect(fetch(`${server.url}/healthz`)).rejects.toThrow();
  });

  it('explains a port that is taken', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as AddressInfo).port;
    try {
      const metrics = createAgentMetrics({ processMetrics: false });
      const attempt = startEndpoints({ port, host: '127.0.0.1', registry: metrics.registry, ready: () => true });
      await expect(attempt).rejects.toBeInstanceOf(SterletError);
      await expect(attempt).rejects.toMatchObject({ code: 'METRICS_LISTEN_FAILED' });
      // The fix names the flag that exists (`sterlet agent --metrics-addr`).
      const err = (await attempt.catch((e: unknown) => e)) as SterletError;
      expect(err.fix).toContain('--metrics-addr');
      expect(err.fix).not.toContain('--metrics-port');
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });
});
