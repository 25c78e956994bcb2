// Health checks through the tunnel, end to end (issue 10): real TCP through
// native XDP on veths. The agent probes VIP:80 on each backend inside the
// same IPIP tunnel the balancer uses (marked sockets + the tc egress
// program); a backend whose listener stops, or whose decap is detached while
// its own address still answers, leaves the ring for new flows within
// interval x unhealthyThreshold + 1 s; its established connections stay; all
// down fails open.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { attachDecap, parseLogLine, sterlet, type LogRecord } from '../support/e2e/agent.ts';
import { TrafficClient } from '../support/e2e/client.ts';
import { webManifests } from '../support/e2e/manifests.ts';
import type { ManagedProcess } from '../support/e2e/processes.ts';
import { startHttpServer } from '../support/e2e/servers.ts';
import type { BackendNode } from '../support/e2e/topology.ts';
import { createAgentWorld, type AgentWorld } from '../support/e2e/world.ts';
import { join } from 'node:path';

const INTERVAL_S = 2;
const UNHEALTHY = 2;
const HEALTHY = 2;
const CHECK = { type: 'TCP', intervalSeconds: INTERVAL_S, timeoutSeconds: 1, healthyThreshold: HEALTHY, unhealthyThreshold: UNHEALTHY };
/** The bound: a dead backend is out of the ring within interval x unhealthyThreshold + 1 s. */
const OUT_WITHIN_MS = INTERVAL_S * UNHEALTHY * 1000 + 1000;
/** Back within healthyThreshold intervals (+1 s for the phase and the apply). */
const BACK_WITHIN_MS = INTERVAL_S * HEALTHY * 1000 + INTERVAL_S * 1000 + 1000;
const NEW_CONNECTIONS = 240;

const HealthJson = z.object({
  health: z.object({
    vips: z.array(
      z.object({
        id: z.string(),
        failOpen: z.boolean(),
        backends: z.array(z.object({ backend: z.string(), healthy: z.boolean(), probes: z.number(), lastError: z.string().optional() })),
      }),
    ),
  }),
});

describe('health checks through the tunnel (netns, native XDP, real TCP)', () => {
  let w: AgentWorld;
  const servers = new Map<string, ManagedProcess>();

  beforeAll(async () => {
    w = await createAgentWorld({ backends: 3 });
    const from = w.agent.process.mark();
    await w.manifests.write(webManifests(w.t.vip, w.be.map((backend) => ({ backend })), { healthCheck: CHECK }));
    await w.agent.process.waitForLine((l) => parseLogLine(l)?.msg === 'applied' && parseLogLine(l)?.reason === 'source', { from, what: 'the health-checked state applied' });
    for (const backend of w.be) servers.set(backend.name, await serverOf(w, backend));
  }, 120_000);

  afterEach(async () => {
    await w?.client.reset();
  });

  afterAll(async () => {
    if (w) console.log(`e2e health figures:\n${JSON.stringify(w.figures, null, 1)}`);
    await w?.t.destroy();
  });

  it('probes every backend through the tunnel: all healthy, shown by sterlet stats', async () => {
    const health = await waitForHealth(w, (h) => h.backends.length === 3 && h.backends.every((b) => b.healthy && b.probes >= 2));
    expect(health.failOpen).toBe(false);
    const text = (await sterlet(w.t.lb.netns, ['stats', '--bpffs', w.lbBpffs])).stdout;
    expect(text).toMatch(/e2e\/web: 3\/3 healthy/);
    // With no client traffic, each backend's decap program still counts IPIP packets: the probes.
    const before = await Promise.all(w.be.map((b) => decapIpip(w, b)));
    await new Promise((r) => setTimeout(r, INTERVAL_S * 1000 + 500));
    const after = await Promise.all(w.be.map((b) => decapIpip(w, b)));
    w.figures['decap IPIP packets per backend in one interval, idle client'] = after.map((n, i) => n - (before[i] ?? 0));
    after.forEach((n, i) => expect(n, w.be[i]?.name).toBeGreaterThan(before[i] ?? 0));
  });

  it('a backend whose server stops listening leaves the ring in time: 0 failed new connections, its established connections stay', async () => {
    const victim = w.be[1] as BackendNode;
    const held = await w.client.open(30);
    const before = await w.client.round();
    const onVictim = before.filter((r) => r.backend === victim.name).map((r) => r.id);
    expect(onVictim.length, JSON.stringify(before)).toBeGreaterThan(0);

    const from = w.agent.process.mark();
    const t0 = Date.now();
    await signal(servers.get(victim.name), 'SIGUSR1', /^not listening /);
    const applied = await waitForHealthApply(w.agent.process, from, victim.address, false);
    const outMs = Date.now() - t0;
    w.figures['server stopped -> out of the ring (ms)'] = outMs;
    expect(outMs, applied.line).toBeLessThanOrEqual(OUT_WITHIN_MS);

    const stats = await w.client.burst(NEW_CONNECTIONS, { concurrency: 8 });
    expect(stats.ok, w.failureReport(stats)).toBe(NEW_CONNECTIONS);
    expect(stats.failures).toBe(0);
    expect(stats.counts[victim.name] ?? 0).toBe(0);

    // The balancer kept its flows: they still reach the (still serving) victim.
    const after = await w.client.round();
    expect(after.filter((r) => onVictim.includes(r.id))).toEqual(before.filter((r) => onVictim.includes(r.id)).map((r) => ({ ...r })));
    expect(after.every((r) => r.ok), JSON.stringify(after)).toBe(true);
    expect(held.length).toBe(30);

    const from2 = w.agent.process.mark();
    const t1 = Date.now();
    await signal(servers.get(victim.name), 'SIGUSR2', /^listening /);
    await waitForHealthApply(w.agent.process, from2, victim.address, true);
    const backMs = Date.now() - t1;
    w.figures['server back -> in the ring (ms)'] = backMs;
    expect(backMs).toBeLessThanOrEqual(BACK_WITHIN_MS);
    const again = await w.client.burst(NEW_CONNECTIONS, { concurrency: 8 });
    expect(again.ok, w.failureReport(again)).toBe(NEW_CONNECTIONS);
    expect(again.counts[victim.name] ?? 0).toBeGreaterThan(0);
  });

  it('a backend whose decap is detached is unhealthy although its own address still answers (the probe goes through the tunnel)', async () => {
    const victim = w.be[2] as BackendNode;
    const from = w.agent.process.mark();
    const t0 = Date.now();
    await sterlet(victim.netns, ['detach', '--interface', victim.iface, '--bpffs', join(w.bpffs.path, victim.name)]);
    const direct = await TrafficClient.start(w.t, { host: victim.address });
    const plain = await direct.burst(5, { concurrency: 1 });
    expect(plain.ok, 'a direct connect to the backend address still works').toBe(5);
    await waitForHealthApply(w.agent.process, from, victim.address, false);
    w.figures['decap detached -> out of the ring (ms)'] = Date.now() - t0;
    const stats = await w.client.burst(NEW_CONNECTIONS, { concurrency: 8 });
    expect(stats.ok, w.failureReport(stats)).toBe(NEW_CONNECTIONS);
    expect(stats.counts[victim.name] ?? 0).toBe(0);

    const from2 = w.agent.process.mark();
    await attachDecap(victim, w.bpffs.path);
    await waitForHealthApply(w.agent.process, from2, victim.address, true);
  });

  it('every backend down: fails open (all stay in the ring) and says so in the log and sterlet stats', async () => {
    const from = w.agent.process.mark();
    for (const backend of w.be) await signal(servers.get(backend.name), 'SIGUSR1', /^not listening /);
    const { line } = await w.agent.process.waitForLine((l) => /failing open/.test(String(parseLogLine(l)?.msg ?? '')), {
      from,
      timeoutMs: OUT_WITHIN_MS + 5000,
      what: 'the fail-open error line',
    });
    expect(parseLogLine(line)?.level).toBe('error');
    const health = await waitForHealth(w, (h) => h.failOpen);
    expect(health.backends.every((b) => !b.healthy || b.lastError !== undefined)).toBe(true);
    const text = (await sterlet(w.t.lb.netns, ['stats', '--bpffs', w.lbBpffs])).stdout;
    expect(text).toMatch(/FAIL OPEN/);
    // Failing open means the ring still spreads over all three (which now refuse: nothing listens).
    const from2 = w.agent.process.mark();
    for (const backend of w.be) await signal(servers.get(backend.name), 'SIGUSR2', /^listening /);
    await w.agent.process.waitForLine((l) => /no longer failing open/.test(String(parseLogLine(l)?.msg ?? '')), {
      from: from2,
      timeoutMs: BACK_WITHIN_MS + 5000,
      what: 'the end of fail open',
    });
    const stats = await w.client.burst(NEW_CONNECTIONS, { concurrency: 8 });
    expect(stats.ok, w.failureReport(stats)).toBe(NEW_CONNECTIONS);
  });
});

const DecapJson = z.object({ counters: z.object({ ipip: z.object({ packets: z.number() }) }) });

async function decapIpip(w: AgentWorld, backend: BackendNode): Promise<number> {
  const out = await sterlet(backend.netns, ['stats', '--decap', '--bpffs', join(w.bpffs.path, backend.name), '--json']);
  return DecapJson.parse(JSON.parse(out.stdout)).counters.ipip.packets;
}

/** The world's HTTP server process of a backend on port 80. */
async function serverOf(w: AgentWorld, backend: BackendNode): Promise<ManagedProcess> {
  const found = w.t.processes.find(`http-${backend.name}:80`);
  return found ?? (await startHttpServer(w.t, backend));
}

async function signal(proc: ManagedProcess | undefined, sig: NodeJS.Signals, line: RegExp): Promise<void> {
  if (proc === undefined) throw new Error('E2E_NO_SERVER');
  const from = proc.mark();
  proc.child.kill(sig);
  await proc.waitForLine(line, { from, what: `its answer to ${sig}` });
}

/** Waits for the transition log line of `address`, then the health re-apply that programmed it. */
async function waitForHealthApply(agent: ManagedProcess, from: number, address: string, healthy: boolean): Promise<{ line: string; record: LogRecord }> {
  const transition = await agent.waitForLine(
    (l) => {
      const r = parseLogLine(l);
      return r?.backend === address && typeof r.msg === 'string' && (healthy ? r.msg.endsWith('is healthy again') : r.msg.includes('is unhealthy'));
    },
    { from, timeoutMs: 30_000, what: `${address} turning ${healthy ? 'healthy' : 'unhealthy'}` },
  );
  const applied = await agent.waitForLine((l) => parseLogLine(l)?.msg === 'applied' && parseLogLine(l)?.reason === 'health', {
    from: transition.index,
    timeoutMs: 10_000,
    what: 'the health re-apply',
  });
  return { line: applied.line, record: parseLogLine(applied.line) ?? {} };
}

type VipHealth = z.infer<typeof HealthJson>['health']['vips'][number];

async function waitForHealth(w: AgentWorld, ok: (h: VipHealth) => boolean, timeoutMs = 20_000): Promise<VipHealth> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const out = await sterlet(w.t.lb.netns, ['stats', '--bpffs', w.lbBpffs, '--json']);
    last = out.stdout;
    const parsed = HealthJson.safeParse(JSON.parse(out.stdout));
    const web = parsed.success ? parsed.data.health.vips.find((v) => v.id === 'e2e/web') : undefined;
    if (web !== undefined && ok(web)) return web;
    if (Date.now() > deadline) throw new Error(`E2E_TIMEOUT: health not as expected within ${timeoutMs} ms: ${last.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
