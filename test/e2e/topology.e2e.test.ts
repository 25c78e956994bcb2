// Harness sanity, no balancer: the router routes the VIP straight to one
// backend. Proves namespaces, routes, the VIP on the backends' lo, DSR-style
// return through the router, the HTTP servers and the client runner all work
// before any XDP is involved, and that teardown leaves nothing behind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrafficClient } from '../support/e2e/client.ts';
import { run } from '../support/exec.ts';
import { startHttpServers } from '../support/e2e/servers.ts';
import { Topology } from '../support/e2e/topology.ts';

async function namespacesOf(id: string): Promise<string[]> {
  const { stdout } = await run(['ip', 'netns', 'list']);
  return stdout
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith(`${id}-`));
}

describe('e2e harness (plain routing, no balancer)', () => {
  let topology: Topology | undefined;
  let client: TrafficClient;

  beforeAll(async () => {
    topology = await Topology.create({ backends: 2 });
    await startHttpServers(topology, topology.backends);
    client = await TrafficClient.start(topology);
  });

  afterAll(async () => {
    await topology?.destroy();
  });

  it('creates one namespace per role with unique names', async () => {
    const t = topology!;
    expect(t.id).toMatch(/^stl-\d+-[0-9a-f]{6}$/);
    expect((await namespacesOf(t.id)).sort()).toEqual(
      [`${t.id}-be1`, `${t.id}-be2`, `${t.id}-client`, `${t.id}-lb`, `${t.id}-router`].sort(),
    );
  });

  it('routes the VIP to whichever backend the router points at', async () => {
    const t = topology!;
    const [first, second] = t.backends;
    await t.routeVipToBackend(first!);
    const one = await client.burst(20, { concurrency: 4 });
    expect(one).toMatchObject({ ok: 20, failures: 0, resets: 0, counts: { 'backend-1': 20 } });

    await t.routeVipToBackend(second!);
    const two = await client.burst(20, { concurrency: 4 });
    expect(two).toMatchObject({ ok: 20, failures: 0, counts: { 'backend-2': 20 } });
  });

  it('routes the IPv6 VIP the same way', async () => {
    const t = topology!;
    await t.routeVipToBackend(t.backends[1]!);
    const client6 = await TrafficClient.start(t, { host: t.vip6 });
    const stats = await client6.burst(20, { concurrency: 4 });
    expect(stats).toMatchObject({ ok: 20, failures: 0, counts: { 'backend-2': 20 } });
  });

  it('probes the same 5-tuples twice in a row (the backend accepts SYNs over TIME_WAIT)', async () => {
    const t = topology!;
    await t.routeVipToBackend(t.backends[0]!);
    for (let i = 0; i < 2; i++) {
      const probe = await client.probe(20_000, 40);
      expect(probe).toMatchObject({ ok: 40, failures: 0 });
      expect(new Set(Object.values(probe.byPort))).toEqual(new Set(['backend-1']));
      expect(Object.keys(probe.byPort)).toHaveLength(40);
    }
  });

  it('keeps long-lived connections on their backend across rounds', async () => {
    const t = topology!;
    await t.routeVipToBackend(t.backends[0]!);
    const opened = await client.open(4);
    expect(opened.every((c) => c.dead === undefined && c.localPort !== undefined)).toBe(true);
    for (let i = 0; i < 3; i++) {
      const results = await client.round();
      expect(results.map((r) => r.backend)).toEqual(['backend-1', 'backend-1', 'backend-1', 'backend-1']);
    }
    await client.closeAll();
  });

  it('reports failures instead of hanging when nothing answers', async () => {
    const t = topology!;
    // The lb namespace has no balancer yet and does not own the VIP: SYNs vanish.
    await t.routeVipToBalancer();
    const stats = await client.burst(3, { concurrency: 3, timeoutMs: 500 });
    expect(stats).toMatchObject({ ok: 0, failures: 3 });
    expect(stats.byKind).toEqual({ timeout: 3 });
  });

  it('runs continuous load and reports what it saw', async () => {
    const t = topology!;
    await t.routeVipToBackend(t.backends[1]!);
    await client.startLoad({ concurrency: 2, ratePerSecond: 50 });
    await client.waitForLoadProgress(25);
    const stats = await client.stopLoad();
    expect(stats.failures).toBe(0);
    expect(stats.counts['backend-2']).toBe(stats.ok);
  });

  it('destroy() removes every namespace and is idempotent', async () => {
    const t = topology!;
    await t.destroy();
    await t.destroy();
    expect(await namespacesOf(t.id)).toEqual([]);
    topology = undefined;
  });
});

describe('Topology.create failure', () => {
  it('tears down what it built when a step fails half way', async () => {
    // An invalid VIP fails at the first backend's `ip addr add`, after the
    // router, client and lb namespaces already exist.
    const attempt = Topology.create({ backends: 1, vip: 'not-an-address' });
    await expect(attempt).rejects.toThrow(/E2E_COMMAND_FAILED/);
    const { stdout } = await run(['ip', 'netns', 'list']);
    expect(stdout).not.toMatch(new RegExp(`^stl-${String(process.pid)}-[0-9a-f]{6}-`, 'm'));
  });
});
