// The agent end to end with real TCP (issue 3 §8), part 1: traffic. client ──
// router ── lb (`sterlet agent`, native XDP on its veth) and router ── backends
// (`sterlet decap`, VIP on lo, an HTTP server answering its name); replies go
// from the backends straight to the client (DSR). The steps share one world and
// run in order; each waits for the agent's own "applied" log line, never a sleep.
// Lifecycle (kill -9, upgrade, invalid input, detach) is agent-lifecycle.e2e.test.ts.
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { sterlet, xdpOf, XDP_MODE_NATIVE } from '../support/e2e/agent.ts';
import { sameBackends, TrafficClient } from '../support/e2e/client.ts';
import { ManifestDir } from '../support/e2e/manifests.ts';
import { checkSpread } from '../support/e2e/spread.ts';
import type { LinkCounters } from '../support/e2e/topology.ts';
import { createAgentWorld, GUE_VIP_PORT, type AgentWorld } from '../support/e2e/world.ts';

const NEW_CONNECTIONS = 300;
/** Local ports for fixed 5-tuple probes: below the ephemeral range (32768+). */
const PROBE_FIRST_PORT = 20_000;
const PROBE_COUNT = 400;

describe('sterlet agent end to end: traffic (netns, native XDP, real TCP)', () => {
  let w: AgentWorld;

  beforeAll(async () => {
    w = await createAgentWorld({ backends: 4 });
  });

  afterEach(async () => {
    // A failed step must not leave its held connections or load to the next one.
    await w?.client.reset();
  });

  afterAll(async () => {
    if (w) console.log(`e2e traffic figures:\n${JSON.stringify(w.figures, null, 1)}`);
    await w?.t.destroy();
  });

  it('attaches the balancer in native XDP mode and the decap program on every backend', async () => {
    expect((await xdpOf(w.t.lb.netns, w.t.lb.iface))?.mode).toBe(XDP_MODE_NATIVE);
    for (const backend of w.be) expect((await xdpOf(backend.netns, backend.iface))?.mode).toBe(XDP_MODE_NATIVE);
  });

  it(`${String(NEW_CONNECTIONS)} new connections all succeed and spread over 3 backends within ±35% or 5 sigma`, async () => {
    const fromClient0 = await w.t.routerCounters(w.t.router.clientPort);
    const fromLb0 = await w.t.routerCounters(w.t.router.lbPort);
    const stats = await w.client.burst(NEW_CONNECTIONS, { concurrency: 8 });
    const fromClient = delta(fromClient0, await w.t.routerCounters(w.t.router.clientPort));
    const fromLb = delta(fromLb0, await w.t.routerCounters(w.t.router.lbPort));
    expect(stats.ok, w.failureReport(stats)).toBe(NEW_CONNECTIONS);
    expect(stats.resets).toBe(0);
    const spread = checkSpread(stats.counts, { 'backend-1': 1, 'backend-2': 1, 'backend-3': 1 }, NEW_CONNECTIONS);
    w.figures['spread 1:1:1 v4'] = spread.summary;
    w.figures['router packets, client leg / lb leg'] = { fromClient, fromLb };
    expect(spread.ok, spread.summary).toBe(true);
    // DSR: the lb only ever returns (encapsulated) what the client sent; the
    // replies reach the client without passing through it.
    expect(fromLb.tx, 'router -> lb carries the client packets').toBeGreaterThanOrEqual(fromClient.rx - 10);
    expect(fromLb.rx, `lb -> router: ${String(fromLb.rx)} packets for ${String(fromClient.rx)} client packets`).toBeLessThanOrEqual(
      fromClient.rx + 20,
    );
    expect(fromClient.tx, 'replies reached the client').toBeGreaterThanOrEqual(NEW_CONNECTIONS * 3);
  });

  it('serves the IPv6 VIP over IP6IP6 the same way', async () => {
    const client6 = await TrafficClient.start(w.t, { host: w.t.vip6 });
    const stats = await client6.burst(NEW_CONNECTIONS, { concurrency: 8 });
    expect(stats.ok, w.failureReport(stats)).toBe(NEW_CONNECTIONS);
    const spread = checkSpread(stats.counts, { 'backend-1': 1, 'backend-2': 1, 'backend-3': 1 }, NEW_CONNECTIONS);
    w.figures['spread 1:1:1 v6'] = spread.summary;
    expect(spread.ok, spread.summary).toBe(true);
  });

  it('serves a GUE-encapsulated VIP (UDP to the backends, stripped by their decap program)', async () => {
    const clientGue = await TrafficClient.start(w.t, { port: GUE_VIP_PORT });
    const stats = await clientGue.burst(150, { concurrency: 8 });
    expect(stats.ok, w.failureReport(stats)).toBe(150);
    const spread = checkSpread(stats.counts, { 'backend-1': 1, 'backend-2': 1, 'backend-3': 1 }, 150);
    w.figures['spread 1:1:1 GUE'] = spread.summary;
    expect(spread.ok, spread.summary).toBe(true);
  });

  it('reports the traffic in `sterlet stats --json`: per VIP, per backend, no drops', async () => {
    const { stdout } = await sterlet(w.t.lb.netns, ['stats', '--bpffs', w.lbBpffs, '--json']);
    const stats = StatsJson.parse(JSON.parse(stdout));
    w.figures.stats = stdout.length > 4000 ? `${stdout.slice(0, 4000)}...` : stdout;
    const web = stats.vips.find((v) => v.key === `TCP ${w.t.vip}:80`);
    const web6 = stats.vips.find((v) => v.key === `TCP [${w.t.vip6}]:80`);
    const gue = stats.vips.find((v) => v.key === `TCP ${w.t.vip}:${String(GUE_VIP_PORT)}`);
    expect(gue?.packets, JSON.stringify(stats.vips)).toBeGreaterThanOrEqual(150 * 4);
    // Two bursts of 300 connections so far, each at least SYN, ACK, request, FIN.
    expect(web?.packets).toBeGreaterThanOrEqual(NEW_CONNECTIONS * 4);
    expect(web6?.packets).toBeGreaterThanOrEqual(NEW_CONNECTIONS * 4);
    for (const backend of w.be.slice(0, 3)) {
      expect(stats.backends.find((b) => b.address === backend.address)?.packets, backend.address).toBeGreaterThan(0);
      expect(stats.backends.find((b) => b.address === backend.address6)?.packets, backend.address6).toBeGreaterThan(0);
    }
    expect(stats.drops.filter((d) => d.packets > 0)).toEqual([]);
  });

  it('`sterlet simulate` predicts the backend real new connections get', async () => {
    const firstPort = 21_000;
    const probe = await w.client.probe(firstPort, 6);
    expect(probe.ok, w.failureReport(probe)).toBe(6);
    for (const [port, name] of Object.entries(probe.byPort)) {
      const flow = `tcp ${w.t.client.address}:${port} -> ${w.t.vip}:80`;
      const { stdout } = await sterlet(w.t.lb.netns, ['simulate', '--bpffs', w.lbBpffs, '--flow', flow, '--json']);
      const result = SimulateJson.parse(JSON.parse(stdout));
      expect(result.verdict, flow).toBe('TX');
      expect(w.be.find((b) => b.address === result.backend)?.name, flow).toBe(name);
    }
  });

  it('weights 2:1:1 give ~50/25/25', async () => {
    await w.program([{ backend: w.be[0]!, weight: 2 }, { backend: w.be[1]! }, { backend: w.be[2]! }]);
    const total = 400;
    const stats = await w.client.burst(total, { concurrency: 8 });
    expect(stats.ok, w.failureReport(stats)).toBe(total);
    const spread = checkSpread(stats.counts, { 'backend-1': 2, 'backend-2': 1, 'backend-3': 1 }, total);
    w.figures['spread 2:1:1'] = spread.summary;
    expect(spread.ok, spread.summary).toBe(true);
    await w.program(w.be.slice(0, 3).map((backend) => ({ backend })));
  });

  it('`sterlet plan` against the live maps: nothing for what is applied, a preview for a change', async () => {
    const plan = async (dir: string): Promise<z.infer<typeof PlanJson>> => {
      const { stdout } = await sterlet(w.t.lb.netns, ['plan', '--manifests', dir, '--bpffs', w.lbBpffs, '--json']);
      return PlanJson.parse(JSON.parse(stdout));
    };
    const applied = await plan(w.manifests.dir);
    expect(applied.programmed).toBe(true);
    expect(applied.writes, JSON.stringify(applied.vips)).toBe(0);

    const preview = new ManifestDir(join(w.t.scratch, 'preview'));
    await preview.init();
    await preview.write(w.documents(w.be.map((backend) => ({ backend }))));
    const pending = await plan(preview.dir);
    expect(pending.writes).toBeGreaterThan(0);
    expect(pending.vips.filter((v) => v.change !== 'unchanged').map((v) => `${v.change} ${v.id}`)).toEqual(['changed e2e/web']);
    w.figures['plan preview of adding backend-4'] = pending.vips.find((v) => v.id === 'e2e/web');
  });

  it('keeps long-lived connections on their backend when a 4th backend is added; new ones reach it', async () => {
    await w.client.open(24);
    const before = await w.client.round();
    expect(before.every((r) => r.ok), JSON.stringify(before)).toBe(true);

    await w.program(w.be.map((backend) => ({ backend })));
    for (let i = 0; i < 2; i++) {
      const after = await w.client.round();
      expect(after, 'every long-lived connection answers from the same backend, no reset').toEqual(sameBackends(before));
    }
    const fresh = await w.client.burst(200, { concurrency: 8 });
    expect(fresh.ok, w.failureReport(fresh)).toBe(200);
    const spread = checkSpread(fresh.counts, { 'backend-1': 1, 'backend-2': 1, 'backend-3': 1, 'backend-4': 1 }, 200);
    w.figures['spread 1:1:1:1 (new connections after adding backend-4)'] = spread.summary;
    expect(spread.ok, spread.summary).toBe(true);
    await w.client.closeAll();
  });

  it('removing one backend moves only the flows of that backend', async () => {
    await w.client.open(24);
    const held = await w.client.round();
    expect(held.every((r) => r.ok), JSON.stringify(held)).toBe(true);
    const probeBefore = await w.client.probe(PROBE_FIRST_PORT, PROBE_COUNT);
    expect(probeBefore.ok, w.failureReport(probeBefore)).toBe(PROBE_COUNT);

    await w.program(w.be.slice(0, 3).map((backend) => ({ backend })));

    // Established flows on the remaining backends never move (connection table + ring).
    const after = await w.client.round();
    const survivors = held.filter((r) => r.backend !== 'backend-4');
    expect(after.filter((r) => survivors.some((s) => s.id === r.id))).toEqual(sameBackends(survivors));
    // Not asserted (the issue leaves it open): what a removed backend's own established flows see.
    w.figures["removal of backend-4: its held connections afterwards"] = after
      .filter((r) => !survivors.some((s) => s.id === r.id))
      .map((r) => (r.ok ? `still ${r.backend ?? '?'}` : r.kind));

    // The same 5-tuples as new connections: only backend-4's move (Maglev minimal disruption).
    const probeAfter = await w.client.probe(PROBE_FIRST_PORT, PROBE_COUNT);
    expect(probeAfter.ok, w.failureReport(probeAfter)).toBe(PROBE_COUNT);
    let stayed = 0;
    let movedOthers = 0;
    for (const [port, was] of Object.entries(probeBefore.byPort)) {
      const now = probeAfter.byPort[port];
      if (was === 'backend-4') expect(now).not.toBe('backend-4');
      else if (now === was) stayed++;
      else movedOthers++;
    }
    w.figures['removal of backend-4: probe tuples of other backends that moved'] = `${String(movedOthers)} of ${String(stayed + movedOthers)}`;
    // Maglev is near-minimal, not exact: allow a few percent of other tuples to move.
    expect(movedOthers, `tuples of surviving backends that moved: ${String(movedOthers)} of ${String(stayed + movedOthers)}`).toBeLessThanOrEqual(
      Math.ceil((stayed + movedOthers) * 0.05),
    );
    await w.client.closeAll();
  });

  it('weight 0 drains a backend: its established connections stay, new ones avoid it', async () => {
    await w.client.open(24);
    const held = await w.client.round();
    expect(held.every((r) => r.ok), JSON.stringify(held)).toBe(true);
    // 24 connections over 3 backends: none on backend-3 has probability (2/3)^24 < 1e-4.
    expect(held.some((r) => r.backend === 'backend-3')).toBe(true);

    await w.program([{ backend: w.be[0]! }, { backend: w.be[1]! }, { backend: w.be[2]!, weight: 0 }]);
    expect(await w.client.round()).toEqual(sameBackends(held));
    const fresh = await w.client.burst(150);
    expect(fresh.ok, w.failureReport(fresh)).toBe(150);
    expect(fresh.counts['backend-3'] ?? 0, JSON.stringify(fresh.counts)).toBe(0);
    await w.client.closeAll();
    await w.program(w.be.slice(0, 3).map((backend) => ({ backend })));
  });
});

function delta(before: LinkCounters, after: LinkCounters): { rx: number; tx: number } {
  return { rx: after.rx.packets - before.rx.packets, tx: after.tx.packets - before.tx.packets };
}

const Counted = z.object({ packets: z.number(), bytes: z.number() });
const StatsJson = z.object({
  vips: z.array(Counted.extend({ key: z.string() })),
  backends: z.array(Counted.extend({ address: z.string() })),
  drops: z.array(z.object({ reason: z.string(), packets: z.number() })),
});

const PlanJson = z.object({
  programmed: z.boolean(),
  writes: z.number(),
  vips: z.array(z.looseObject({ id: z.string(), change: z.string() })),
});

const SimulateJson = z.object({ verdict: z.string(), backend: z.string().optional() });
