// The agent end to end with real TCP (issue 3 §8): client ── router ── lb
// (`sterlet agent`, native XDP on its veth) and router ── backends (`sterlet
// decap`, VIP on lo, an HTTP server answering its name). Replies go from the
// backends straight to the client (DSR). The steps share one topology and run
// in order; each waits for the agent's own "applied" log line, never a sleep.
import { copyFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  AgentRunner,
  attachDecap,
  parseLogLine,
  sterlet,
  waitForApplied,
  waitForRejected,
  xdpOf,
  XDP_MODE_NATIVE,
} from './lib/agent.ts';
import { createBpffsDir, type BpffsDir } from './lib/bpffs.ts';
import { REPO_ROOT } from './lib/exec.ts';
import { TrafficClient, type RoundEntry, type TrafficStats } from './lib/client.ts';
import { ManifestDir, webManifests, type BackendEntry } from './lib/manifests.ts';
import { startHttpServers } from './lib/servers.ts';
import { checkSpread } from './lib/spread.ts';
import { Topology, type BackendNode, type LinkCounters } from './lib/topology.ts';
import { buildVariantBalancer } from './lib/bpf-build.ts';

const NEW_CONNECTIONS = 300;
/** Local ports for fixed 5-tuple probes: below the ephemeral range (32768+). */
const PROBE_FIRST_PORT = 20_000;
const PROBE_COUNT = 400;
/** Port of the GUE-encapsulated VIP on the same address (backends run a second server there). */
const GUE_VIP_PORT = 8080;

describe('sterlet agent end to end (netns, native XDP, real TCP)', () => {
  let t: Topology;
  let bpffs: BpffsDir;
  let manifests: ManifestDir;
  let agent: AgentRunner;
  let client: TrafficClient;
  let be: BackendNode[];
  /** Measured figures, printed once at the end (the numbers behind the assertions). */
  const figures: Record<string, unknown> = {};

  /**
   * The IPv4 VIP `web` with these backends; never changed: the IPv6 VIP `web6`
   * and the GUE-encapsulated `gue` (same address, port 8080), both on backends 1-3.
   */
  function documents(entries: readonly BackendEntry[]): object[] {
    const fixed = be.slice(0, 3).map((backend) => ({ backend }));
    return [
      ...webManifests(t.vip, entries),
      ...webManifests(t.vip6, fixed, { name: 'web6', ipv6: true }),
      ...webManifests(t.vip, fixed, { name: 'gue', port: GUE_VIP_PORT, encapsulation: 'GUE' }),
    ];
  }

  /** Writes the manifests and waits until the agent applied them. */
  async function program(entries: readonly BackendEntry[]): Promise<void> {
    const from = agent.process.mark();
    await manifests.write(documents(entries));
    const applied = await waitForApplied(agent.process, from, { changed: true });
    const key = `apply ${entries.map((e) => `${e.backend.name}:${String(e.weight ?? 1)}`).join(',')}`;
    figures[key] = { changes: applied.changes, durationMs: applied.durationMs };
  }

  function failureReport(stats: unknown): string {
    return `${JSON.stringify(stats)}\nagent log tail:\n${agent.process.tail(15)}`;
  }

  beforeAll(async () => {
    t = await Topology.create({ backends: 4, keepScratch: process.env.STERLET_E2E_KEEP === '1' });
    try {
      be = t.backends;
      bpffs = await createBpffsDir(t);
      manifests = new ManifestDir(t.scratch);
      await manifests.init();
      await startHttpServers(t, be);
      await startHttpServers(t, be.slice(0, 3), GUE_VIP_PORT);
      for (const backend of be) await attachDecap(backend, bpffs.path);
      await t.routeVipToBalancer();
      await manifests.write(documents(be.slice(0, 3).map((backend) => ({ backend }))));
      // A private copy of the program build: a concurrent `make bpf` must not turn a restart into an upgrade.
      const bpfObject = join(t.scratch, 'balancer.bpf.o');
      await copyFile(join(REPO_ROOT, 'build/bpf/balancer.bpf.o'), bpfObject);
      agent = new AgentRunner(t, {
        manifests: manifests.dir,
        bpffs: join(bpffs.path, 'lb'),
        gatewayMac: await t.gatewayMac(),
        bpfObject,
      });
      const proc = agent.start();
      await waitForApplied(proc, 0, { changed: true, timeoutMs: 60_000 });
      client = await TrafficClient.start(t);
    } catch (error) {
      await t.destroy();
      throw error;
    }
  });

  afterEach(async () => {
    // A failed step must not leave its held connections or load to the next one.
    await client?.reset();
  });

  afterAll(async () => {
    console.log(`e2e figures:\n${JSON.stringify(figures, null, 1)}`);
    await t?.destroy();
  });

  it('attaches the balancer in native XDP mode and the decap program on every backend', async () => {
    expect((await xdpOf(t.lb.netns, t.lb.iface))?.mode).toBe(XDP_MODE_NATIVE);
    for (const backend of be) expect((await xdpOf(backend.netns, backend.iface))?.mode).toBe(XDP_MODE_NATIVE);
  });

  it(`${String(NEW_CONNECTIONS)} new connections all succeed and spread over 3 backends within ±35%`, async () => {
    const fromClient0 = await t.routerCounters(t.router.clientPort);
    const fromLb0 = await t.routerCounters(t.router.lbPort);
    const stats = await client.burst(NEW_CONNECTIONS, { concurrency: 8 });
    const fromClient = delta(fromClient0, await t.routerCounters(t.router.clientPort));
    const fromLb = delta(fromLb0, await t.routerCounters(t.router.lbPort));
    expect(stats.ok, failureReport(stats)).toBe(NEW_CONNECTIONS);
    expect(stats.resets).toBe(0);
    const spread = checkSpread(stats.counts, { 'backend-1': 1, 'backend-2': 1, 'backend-3': 1 }, NEW_CONNECTIONS);
    figures['spread 1:1:1 v4'] = spread.summary;
    figures['router packets, client leg / lb leg'] = { fromClient, fromLb };
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
    const client6 = await TrafficClient.start(t, { host: t.vip6 });
    const stats = await client6.burst(NEW_CONNECTIONS, { concurrency: 8 });
    expect(stats.ok, failureReport(stats)).toBe(NEW_CONNECTIONS);
    const spread = checkSpread(stats.counts, { 'backend-1': 1, 'backend-2': 1, 'backend-3': 1 }, NEW_CONNECTIONS);
    figures['spread 1:1:1 v6'] = spread.summary;
    expect(spread.ok, spread.summary).toBe(true);
  });

  it('serves a GUE-encapsulated VIP (UDP to the backends, stripped by their decap program)', async () => {
    const clientGue = await TrafficClient.start(t, { port: GUE_VIP_PORT });
    const stats = await clientGue.burst(150, { concurrency: 8 });
    expect(stats.ok, failureReport(stats)).toBe(150);
    const spread = checkSpread(stats.counts, { 'backend-1': 1, 'backend-2': 1, 'backend-3': 1 }, 150);
    figures['spread 1:1:1 GUE'] = spread.summary;
    expect(spread.ok, spread.summary).toBe(true);
  });

  it('reports the traffic in `sterlet stats --json`: per VIP, per backend, no drops', async () => {
    const { stdout } = await sterlet(t.lb.netns, ['stats', '--bpffs', join(bpffs.path, 'lb'), '--json']);
    const stats = StatsJson.parse(JSON.parse(stdout));
    figures.stats = stdout.length > 4000 ? `${stdout.slice(0, 4000)}...` : stdout;
    const web = stats.vips.find((v) => v.key === `TCP ${t.vip}:80`);
    const web6 = stats.vips.find((v) => v.key === `TCP [${t.vip6}]:80`);
    const gue = stats.vips.find((v) => v.key === `TCP ${t.vip}:${String(GUE_VIP_PORT)}`);
    expect(gue?.packets, JSON.stringify(stats.vips)).toBeGreaterThanOrEqual(150 * 4);
    // Two bursts of 300 connections so far, each at least SYN, ACK, request, FIN.
    expect(web?.packets).toBeGreaterThanOrEqual(NEW_CONNECTIONS * 4);
    expect(web6?.packets).toBeGreaterThanOrEqual(NEW_CONNECTIONS * 4);
    for (const backend of be.slice(0, 3)) {
      expect(stats.backends.find((b) => b.address === backend.address)?.packets, backend.address).toBeGreaterThan(0);
      expect(stats.backends.find((b) => b.address === backend.address6)?.packets, backend.address6).toBeGreaterThan(0);
    }
    expect(stats.drops.filter((d) => d.packets > 0)).toEqual([]);
  });

  it('`sterlet simulate` predicts the backend real new connections get', async () => {
    const firstPort = 21_000;
    const probe = await client.probe(firstPort, 6);
    expect(probe.ok, failureReport(probe)).toBe(6);
    for (const [port, name] of Object.entries(probe.byPort)) {
      const flow = `tcp ${t.client.address}:${port} -> ${t.vip}:80`;
      const { stdout } = await sterlet(t.lb.netns, ['simulate', '--bpffs', join(bpffs.path, 'lb'), '--flow', flow, '--json']);
      const result = SimulateJson.parse(JSON.parse(stdout));
      expect(result.verdict, flow).toBe('TX');
      expect(be.find((b) => b.address === result.backend)?.name, flow).toBe(name);
    }
  });

  it('weights 2:1:1 give ~50/25/25', async () => {
    await program([{ backend: be[0]!, weight: 2 }, { backend: be[1]! }, { backend: be[2]! }]);
    const total = 400;
    const stats = await client.burst(total, { concurrency: 8 });
    expect(stats.ok, failureReport(stats)).toBe(total);
    const spread = checkSpread(stats.counts, { 'backend-1': 2, 'backend-2': 1, 'backend-3': 1 }, total);
    figures['spread 2:1:1'] = spread.summary;
    expect(spread.ok, spread.summary).toBe(true);
    await program(be.slice(0, 3).map((backend) => ({ backend })));
  });

  it('keeps long-lived connections on their backend when a 4th backend is added; new ones reach it', async () => {
    await client.open(24);
    const before = await client.round();
    expect(before.every((r) => r.ok), JSON.stringify(before)).toBe(true);

    await program(be.map((backend) => ({ backend })));
    for (let i = 0; i < 2; i++) {
      const after = await client.round();
      expect(after, 'every long-lived connection answers from the same backend, no reset').toEqual(sameBackends(before));
    }
    const fresh = await client.burst(200, { concurrency: 8 });
    expect(fresh.ok, failureReport(fresh)).toBe(200);
    const spread = checkSpread(fresh.counts, { 'backend-1': 1, 'backend-2': 1, 'backend-3': 1, 'backend-4': 1 }, 200);
    figures['spread 1:1:1:1 (new connections after adding backend-4)'] = spread.summary;
    expect(spread.ok, spread.summary).toBe(true);
    await client.closeAll();
  });

  it('removing one backend moves only the flows of that backend', async () => {
    await client.open(24);
    const held = await client.round();
    expect(held.every((r) => r.ok), JSON.stringify(held)).toBe(true);
    const probeBefore = await client.probe(PROBE_FIRST_PORT, PROBE_COUNT);
    expect(probeBefore.ok, failureReport(probeBefore)).toBe(PROBE_COUNT);

    await program(be.slice(0, 3).map((backend) => ({ backend })));

    // Established flows on the remaining backends never move (connection table + ring).
    const after = await client.round();
    const survivors = held.filter((r) => r.backend !== 'backend-4');
    expect(after.filter((r) => survivors.some((s) => s.id === r.id))).toEqual(sameBackends(survivors));
    // Not asserted (the issue leaves it open): what a removed backend's own established flows see.
    figures["removal of backend-4: its held connections afterwards"] = after
      .filter((r) => !survivors.some((s) => s.id === r.id))
      .map((r) => (r.ok ? `still ${r.backend ?? '?'}` : r.kind));

    // The same 5-tuples as new connections: only backend-4's move (Maglev minimal disruption).
    const probeAfter = await client.probe(PROBE_FIRST_PORT, PROBE_COUNT);
    expect(probeAfter.ok, failureReport(probeAfter)).toBe(PROBE_COUNT);
    let stayed = 0;
    let movedOthers = 0;
    for (const [port, was] of Object.entries(probeBefore.byPort)) {
      const now = probeAfter.byPort[port];
      if (was === 'backend-4') expect(now).not.toBe('backend-4');
      else if (now === was) stayed++;
      else movedOthers++;
    }
    figures['removal of backend-4: probe tuples of other backends that moved'] = `${String(movedOthers)} of ${String(stayed + movedOthers)}`;
    // Maglev is near-minimal, not exact: allow a few percent of other tuples to move.
    expect(movedOthers, `tuples of surviving backends that moved: ${String(movedOthers)} of ${String(stayed + movedOthers)}`).toBeLessThanOrEqual(
      Math.ceil((stayed + movedOthers) * 0.05),
    );
    await client.closeAll();
  });

  it('weight 0 drains a backend: its established connections stay, new ones avoid it', async () => {
    await client.open(24);
    const held = await client.round();
    expect(held.every((r) => r.ok), JSON.stringify(held)).toBe(true);
    // 24 connections over 3 backends: none on backend-3 has probability (2/3)^24 < 1e-4.
    expect(held.some((r) => r.backend === 'backend-3')).toBe(true);

    await program([{ backend: be[0]! }, { backend: be[1]! }, { backend: be[2]!, weight: 0 }]);
    expect(await client.round()).toEqual(sameBackends(held));
    const fresh = await client.burst(150);
    expect(fresh.ok, failureReport(fresh)).toBe(150);
    expect(fresh.counts['backend-3'] ?? 0, JSON.stringify(fresh.counts)).toBe(0);
    await client.closeAll();
    await program(be.slice(0, 3).map((backend) => ({ backend })));
  });

  it('kill -9 of the agent and its restart: zero failed requests, zero resets, connections remembered', async () => {
    await client.open(12);
    const held = await client.round();
    await client.startLoad({ concurrency: 2, ratePerSecond: 100 });
    try {
      await client.waitForLoadProgress(50);
      const progId = (await xdpOf(t.lb.netns, t.lb.iface))?.id;
      await agent.kill9();
      // With no agent at all the attached program keeps forwarding.
      await client.waitForLoadProgress(100);
      const proc = agent.start();
      await proc.waitForLine((line) => parseLogLine(line)?.msg === 'dataplane adopted', { timeoutMs: 60_000, what: '"dataplane adopted"' });
      await waitForApplied(proc, 0, { timeoutMs: 60_000 });
      await client.waitForLoadProgress(100);
      expect((await xdpOf(t.lb.netns, t.lb.iface))?.id, 'restart adopts the attached program').toBe(progId);
    } finally {
      const stats = await client.stopLoad();
      figures['load across kill -9 + restart'] = loadFigures(stats);
      expect(stats.failures, failureReport(stats)).toBe(0);
      expect(stats.resets).toBe(0);
      // A dropped SYN or segment costs a >= 1 s retransmission: none may be that slow.
      expect(stats.slow, `requests slower than 900 ms: ${failureReport(stats)}`).toBe(0);
    }
    expect(await client.round()).toEqual(sameBackends(held));
    await client.closeAll();
  });

  it('an upgrade to another program build replaces it atomically: zero failed requests, zero resets', async () => {
    const variant = await buildVariantBalancer(t.scratch);
    await client.open(12);
    const held = await client.round();
    await client.startLoad({ concurrency: 2, ratePerSecond: 100 });
    try {
      await client.waitForLoadProgress(50);
      const before = await xdpOf(t.lb.netns, t.lb.iface);
      await agent.stop();
      await client.waitForLoadProgress(50);
      const proc = agent.start({ bpfObject: variant });
      await proc.waitForLine((line) => parseLogLine(line)?.msg === 'dataplane upgraded', { timeoutMs: 60_000, what: '"dataplane upgraded"' });
      await waitForApplied(proc, 0, { timeoutMs: 60_000 });
      await client.waitForLoadProgress(100);
      const after = await xdpOf(t.lb.netns, t.lb.iface);
      expect(after?.id, 'a new program is attached').not.toBe(before?.id);
      expect(after?.mode).toBe(XDP_MODE_NATIVE);
    } finally {
      const stats = await client.stopLoad();
      figures['load across upgrade'] = loadFigures(stats);
      expect(stats.failures, failureReport(stats)).toBe(0);
      expect(stats.resets).toBe(0);
      // A dropped SYN or segment costs a >= 1 s retransmission: none may be that slow.
      expect(stats.slow, `requests slower than 900 ms: ${failureReport(stats)}`).toBe(0);
    }
    expect(await client.round(), 'the new program uses the same connection table').toEqual(sameBackends(held));
    await client.closeAll();
  });

  it('rejects an invalid manifest change with a clear message and keeps serving the previous state', async () => {
    await client.startLoad({ concurrency: 2, ratePerSecond: 100 });
    try {
      await client.waitForLoadProgress(20);
      const from = agent.process.mark();
      const valid = documents(be.slice(0, 3).map((backend) => ({ backend })));
      // A typo-class mistake: a negative weight on backend-2 (weights are 0-1000).
      await manifests.write(valid.map((doc) => (JSON.stringify(doc).includes('"name":"backend-2"') ? withWeight(doc, -1) : doc)));
      const rejected = await waitForRejected(agent.process, from);
      figures['rejection message'] = rejected.msg;
      expect(String(rejected.msg)).toMatch(/backend-2/);
      expect(String(rejected.msg)).toMatch(/weight/);
      await client.waitForLoadProgress(100);
    } finally {
      const stats = await client.stopLoad();
      expect(stats.failures, failureReport(stats)).toBe(0);
      expect(Object.keys(stats.counts).sort()).toEqual(['backend-1', 'backend-2', 'backend-3']);
    }
    const burst = await client.burst(150);
    expect(burst.ok).toBe(150);
    expect(Object.keys(burst.counts).sort()).toEqual(['backend-1', 'backend-2', 'backend-3']);
  });

  // Known agent bug, not run: src/agent/sources/file.ts watches a directory with
  // fs.watch({ recursive: true }); Node 24's recursive watcher on Linux reports
  // the first rename over a file and then nothing for later ones, so changes
  // made by rename (editors, ConfigMap volume updates) wait for the 30 s poll.
  // A non-recursive watch sees every rename. Body to enable once fixed:
  //   for (const weight of [3, 1]) {
  //     const from = agent.process.mark();
  //     await manifests.replace(documents([{ backend: be[0]!, weight }, { backend: be[1]! }, { backend: be[2]! }]));
  //     await waitForApplied(agent.process, from, { changed: true, timeoutMs: 5_000 });
  //   }
  it.todo('picks up a manifest replaced by rename (editors, ConfigMap volumes) from the file watch alone, within 5 s');

  it('`sterlet detach` removes the program and the pins', async () => {
    await agent.stop();
    await sterlet(t.lb.netns, ['detach', '--interface', t.lb.iface, '--bpffs', join(bpffs.path, 'lb')]);
    expect(await xdpOf(t.lb.netns, t.lb.iface)).toBeUndefined();
    expect(await readdir(join(bpffs.hostPath, 'lb')).catch(() => [])).toEqual([]);
  });
});

function loadFigures(stats: TrafficStats): object {
  const { total, ok, failures, resets, slow, maxLatencyMs, durationMs } = stats;
  return { total, ok, failures, resets, slowOver900ms: slow, maxLatencyMs, durationMs };
}

function delta(before: LinkCounters, after: LinkCounters): { rx: number; tx: number } {
  return { rx: after.rx.packets - before.rx.packets, tx: after.tx.packets - before.tx.packets };
}

function withWeight(doc: object, weight: number): object {
  const copy = structuredClone(doc) as { spec: Record<string, unknown> };
  copy.spec.weight = weight;
  return copy;
}

const Counted = z.object({ packets: z.number(), bytes: z.number() });
const StatsJson = z.object({
  vips: z.array(Counted.extend({ key: z.string() })),
  backends: z.array(Counted.extend({ address: z.string() })),
  drops: z.array(z.object({ reason: z.string(), packets: z.number() })),
});

const SimulateJson = z.object({ verdict: z.string(), backend: z.string().optional() });

/** What a round must look like if every connection stayed where it was: same backend, ok. */
function sameBackends(entries: readonly RoundEntry[]): RoundEntry[] {
  return entries.map((entry) => ({ id: entry.id, localPort: entry.localPort, ok: true, backend: entry.backend }) as RoundEntry);
}
