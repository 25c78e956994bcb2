// Kubernetes end to end with real packets: `kubectl apply` -> controller ->
// two real agents (`sterlet agent --kubeconfig`, native XDP, each in its own
// network namespace) -> real TCP from the client through the VIP to backends
// that decap in XDP. The agents reach the API server on the host's loopback
// through a Unix-socket bridge (a socket file crosses network namespaces);
// cutting the bridge is how the test makes the API server unreachable.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Resources } from '../../src/kube/client.ts';
import { attachDecap, cleanEnv, sterlet } from '../support/e2e/agent.ts';
import { createBpffsDir, type BpffsDir } from '../support/e2e/bpffs.ts';
import { TrafficClient } from '../support/e2e/client.ts';
import { ip, NODE_BIN, REPO_ROOT, run, STERLET_CLI } from '../support/exec.ts';
import type { ManagedProcess } from '../support/e2e/processes.ts';
import { startHttpServers } from '../support/e2e/servers.ts';
import { checkSpread } from '../support/e2e/spread.ts';
import { type BackendNode, Topology } from '../support/e2e/topology.ts';
import { createNamespace, deleteNamespace, kubeconfigPath, kubectl, waitFor } from '../support/kube/index.ts';
import { type InProcessController, startController } from '../support/kube/controller.ts';
import { installCrds } from '../support/kube/crds.ts';
import { applyObjects, backend, client, condition, type Condition, dropFinalizers, pool, vip, vipStatus, waitCondition } from '../support/kube/objects.ts';
import { bridgeInto } from '../support/kube/bridge.ts';
import { Proxy } from '../support/kube/proxy.ts';

const LB2_IFACE = 'lb2a';
/** Idle threshold of the agents' flow counts: short, so a drain completes within the test. */
const FLOW_RECENT_S = 6;
let t: Topology;
let bpffs: BpffsDir;
let be: BackendNode[];
let ns = '';
let tag = '';
let poolName = '';
let controller: InProcessController | undefined;
let bridge: Proxy | undefined;
let traffic: TrafficClient;
const agents: { name: string; proc: ManagedProcess }[] = [];

interface NodeStatus {
  interface?: string; xdpMode?: string; programId?: number; virtualIPs?: { id: string; revision?: string; ringFingerprint?: string }[];
  backendFlows?: { recentSeconds: number; backends: { address: string; flows: number; recent: number }[] };
}

async function backendCondition(name: string, type: string): Promise<Condition | undefined> {
  const o = await client().get(Resources.backend, name, ns);
  return ((o['status'] as { conditions?: Condition[] } | undefined)?.conditions ?? []).find((c) => c.type === type);
}

/** Flows each node reports for one backend address (0 when not listed). */
async function flowsTo(address: string): Promise<{ node: string; flows: number; recent: number; reported: boolean }[]> {
  return Promise.all(agents.map(async (a) => {
    const s = await nodeStatus(a.name);
    const e = s.backendFlows?.backends.find((b) => b.address === address);
    return { node: a.name, flows: e?.flows ?? 0, recent: e?.recent ?? 0, reported: s.backendFlows !== undefined };
  }));
}

async function nodeStatus(name: string): Promise<NodeStatus> {
  return ((await client().get(Resources.loadBalancerNode, name))['status'] ?? {}) as NodeStatus;
}

function startAgent(name: string, netns: string, iface: string, gatewayMac: string): ManagedProcess {
  const proc = t.processes.start([NODE_BIN, STERLET_CLI, 'agent',
    '--interface', iface, '--kubeconfig', kubeconfigPath(), '--node-name', name,
    '--bpffs', join(bpffs.path, name), '--xdp-mode', 'native', '--gateway-mac', gatewayMac,
    '--metrics-addr', '127.0.0.1:9464', '--log-level', 'debug', '--flow-count-interval', '1', '--flow-recent', String(FLOW_RECENT_S),
    // Small tables: a count every second (for a quick drain) then scans 65536 buckets, not 1M.
    '--lru-size', '65536'], {
    name: `agent ${name}`, netns, logFile: join(t.scratch, `agent-${name}.log`), env: cleanEnv(),
  });
  agents.push({ name, proc });
  return proc;
}

/** Each node's ring fingerprint for the VIP web. */
async function fingerprints(): Promise<(string | undefined)[]> {
  return (await Promise.all(agents.map((x) => nodeStatus(x.name)))).map((n) => n.virtualIPs?.find((v) => v.id === `${ns}/web`)?.ringFingerprint);
}

async function vipEvents(name: string): Promise<{ reason: string; note: string; type: string }[]> {
  const list = await client().list(Resources.event, { namespace: ns });
  return list.items
    .filter((e) => (e['regarding'] as { name?: string; kind?: string }).name === name && (e['regarding'] as { kind?: string }).kind === 'VirtualIP')
    .map((e) => ({ reason: String(e['reason']), note: String(e['note']), type: String(e['type']) }));
}

const web = (i: number, weight = 1) => backend(`backend-${i + 1}`, be[i]?.address ?? '', { app: 'web' }, weight);

/** Waits until both agents report the VIP's current revision with one ring (Programmed 2/2). */
async function programmed(what: string, timeoutMs = 30_000): Promise<void> {
  await waitCondition(ns, 'web', 'Programmed', { status: 'True', message: 'programmed on 2/2 nodes' }, timeoutMs).catch(async (err: unknown) => {
    throw new Error(`${what}: ${String(err)}\n${agents.map((a) => `${a.name}:\n${a.proc.tail(8)}`).join('\n')}`);
  });
}

beforeAll(async () => {
  t = await Topology.create({ backends: 5 });
  try {
    be = t.backends;
    tag = t.id;
    bpffs = await createBpffsDir(t);
    await startHttpServers(t, be);
    for (const b of be) await attachDecap(b, bpffs.path);
    await t.routeVipToBalancer();
    await installCrds();
    ns = await createNamespace('e2e');
    poolName = `pool-${tag}`;
    await applyObjects(undefined, [pool(poolName, {
      addresses: [`${t.vip}/32`], backendAddresses: be.map((b) => `${b.address}/32`),
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
    })]);
    controller = startController({ leaseNamespace: ns, heartbeatTimeoutSeconds: 90 });

    const api = new URL(client().server);
    const socket = join(t.scratch, 'api.sock');
    bridge = await Proxy.listen({ path: socket }, { host: api.hostname, port: Number(api.port) });
    // A second load-balancer node: its own namespace and veth; it programs the same VIP.
    const lb2 = `${t.id}-lb2`;
    await run(['ip', 'netns', 'add', lb2]);
    t.onDestroy(async () => { await run(['ip', 'netns', 'del', lb2]).catch(() => undefined); });
    await ip(lb2, 'link', 'add', LB2_IFACE, 'type', 'veth', 'peer', 'name', 'lb2b');
    for (const l of ['lo', LB2_IFACE, 'lb2b']) await ip(lb2, 'link', 'set', l, 'up');
    for (const netns of [t.lb.netns, lb2]) {
      await ip(netns, 'link', 'set', 'lo', 'up');
      await bridgeInto(t, netns, socket, Number(api.port)).waitForLine(/listening/, { what: 'the API bridge' });
    }
    startAgent(`${tag}-lb1`, t.lb.netns, t.lb.iface, await t.gatewayMac());
    startAgent(`${tag}-lb2`, lb2, LB2_IFACE, '02:00:00:00:00:02');
    for (const a of agents) {
      await waitFor(async () => (await client().get(Resources.loadBalancerNode, a.name)).metadata.name, { what: `LoadBalancerNode ${a.name}`, timeoutMs: 60_000 })
        .catch((err: unknown) => { throw new Error(`${String(err)}\nagent log:\n${a.proc.tail(20)}`); });
      await kubectl(['label', 'loadbalancernode', a.name, `sterlet.dev/test=${tag}`, '--overwrite']);
    }
    traffic = await TrafficClient.start(t);
  } catch (error) {
    await controller?.stop();
    await t.destroy();
    throw error;
  }
});

afterAll(async () => {
  if (ns !== '') await kubectl(['delete', 'vip', '--all', '-n', ns, '--wait=false'], { allowFail: true });
  await new Promise((r) => setTimeout(r, 1000));
  await t?.destroy();
  await bridge?.close();
  for (const a of agents) await client().delete(Resources.loadBalancerNode, a.name).catch(() => undefined);
  await controller?.stop();
  if (ns !== '') { await dropFinalizers(ns); await deleteNamespace(ns); }
  if (poolName !== '') await kubectl(['delete', 'virtualippool', poolName, '--ignore-not-found'], { allowFail: true });
});

describe('kubectl apply -> controller -> agents -> real TCP', () => {
  it('programs a VIP on both nodes with one ring and serves real TCP over its 3 backends', async () => {
    await applyObjects(ns, [vip('web', { address: t.vip, backendSelector: { matchLabels: { app: 'web' } }, nodeSelector: { matchLabels: { 'sterlet.dev/test': tag } } }), web(0), web(1), web(2)]);
    await programmed('first program', 60_000);
    const [a, b] = await Promise.all(agents.map((x) => nodeStatus(x.name)));
    const fp = (s: NodeStatus | undefined) => s?.virtualIPs?.find((v) => v.id === `${ns}/web`)?.ringFingerprint;
    expect(fp(a)).toMatch(/./);
    expect(fp(a)).toBe(fp(b));
    expect(a).toMatchObject({ interface: t.lb.iface, xdpMode: 'Native' });
    expect(a?.programId).toBeGreaterThan(0);
    const printed = (await kubectl(['get', 'vip', 'web', '-n', ns])).stdout;
    expect(printed).toMatch(/True\s+2\/2/);
    // In cluster mode every agent log line names its node (many agents, one log store).
    for (const x of agents) {
      const lines = x.proc.output().filter((l) => l.startsWith('{"level"'));
      expect(lines.length, x.name).toBeGreaterThan(3);
      for (const l of lines) expect((JSON.parse(l) as { node?: string }).node, l).toBe(x.name);
    }

    const stats = await traffic.burst(300, { concurrency: 8 });
    expect(stats.ok, JSON.stringify(stats)).toBe(300);
    const spread = checkSpread(stats.counts, { 'backend-1': 1, 'backend-2': 1, 'backend-3': 1 }, 300);
    expect(spread.ok, spread.summary).toBe(true);
  });

  it('programs scaling 3 -> 5 Backends on both nodes within 2 s', async () => {
    const started = performance.now();
    await applyObjects(ns, [web(3), web(4)]);
    await waitFor(async () => {
      const st = await vipStatus(ns, 'web');
      const rev = st.compiled?.revision;
      if (st.compiled?.backends.length !== 5) return false;
      const nodes = await Promise.all(agents.map((x) => nodeStatus(x.name)));
      return nodes.every((n) => n.virtualIPs?.find((v) => v.id === `${ns}/web`)?.revision === rev);
    }, { what: '5 backends programmed on both nodes', timeoutMs: 20_000, intervalMs: 25 });
    const elapsed = performance.now() - started;
    console.log(`kubectl apply (2 new Backends) -> programmed on 2/2 nodes: ${elapsed.toFixed(0)} ms`);
    expect(elapsed).toBeLessThan(2_000);
    await programmed('5 backends');
    const stats = await traffic.burst(500, { concurrency: 8 });
    expect(stats.ok, JSON.stringify(stats)).toBe(500);
    const spread = checkSpread(stats.counts, Object.fromEntries(be.map((x) => [x.name, 1])), 500);
    expect(spread.ok, spread.summary).toBe(true);
  });

  it('drains a Backend set to weight 0: its recent flows fall to 0 under traffic, then it is Drained', async () => {
    const before = await traffic.burst(200, { concurrency: 8 });
    expect(before.counts['backend-1'] ?? 0).toBeGreaterThan(0);
    await applyObjects(ns, [web(0, 0)]);
    await waitCondition(ns, 'web', 'ResolvedRefs', { message: '5 backends selected, 4 with weight > 0' });
    await programmed('drain');
    // The flows of the burst are still recent on the node that forwarded them.
    const remaining = await waitFor(async () => {
      const c = await backendCondition('backend-1', 'Drained');
      return c?.reason === 'FlowsRemaining' ? c : false;
    }, { what: 'backend-1 Drained=False FlowsRemaining', timeoutMs: FLOW_RECENT_S * 1000 - 1000, intervalMs: 100 });
    expect(remaining.status).toBe('False');
    const peak = (await flowsTo(be[0]!.address)).reduce((n, x) => n + x.recent, 0);
    // Traffic goes on to the other backends; no new flow reaches backend-1.
    const during = await traffic.burst(300, { concurrency: 8 });
    expect(during.ok).toBe(300);
    expect(during.counts['backend-1'] ?? 0).toBe(0);
    const drained = await waitFor(async () => {
      const c = await backendCondition('backend-1', 'Drained');
      return c?.status === 'True' ? c : false;
    }, { what: 'backend-1 Drained=True', timeoutMs: 30_000, intervalMs: 200 });
    expect(drained.reason).toBe('NoRecentFlows');
    const after = await flowsTo(be[0]!.address);
    console.log(`backend-1 drain: recent flows ${peak} -> ${after.reduce((n, x) => n + x.recent, 0)}; idle entries left ${after.reduce((n, x) => n + x.flows, 0)}; ${drained.message}`);
    for (const n of after) expect(n, n.node).toMatchObject({ reported: true, recent: 0 });
    await applyObjects(ns, [web(0, 1)]);
    await programmed('undrain');
    await waitFor(async () => (await backendCondition('backend-1', 'Drained')) === undefined, { what: 'no Drained condition once weight > 0', timeoutMs: 10_000 });
  });

  // Health checks (issue 10). lb2's namespace has no route anywhere, so its
  // probes fail (ENETUNREACH) for every backend while lb1's pass: one node in
  // two sees each backend failing, which is no majority, so both keep every
  // backend. Stopping backend-3's listener makes both see it failing.
  it('health: each node reports its probes; 1 of 2 nodes failing keeps the backend (same ring on both); 2 of 2 drops it on both', async () => {
    const check = { intervalSeconds: 2, timeoutSeconds: 1, healthyThreshold: 2, unhealthyThreshold: 2 };
    await applyObjects(ns, [vip('web', { address: t.vip, backendSelector: { matchLabels: { app: 'web' } }, nodeSelector: { matchLabels: { 'sterlet.dev/test': tag } }, healthCheck: check })]);
    await waitFor(async () => {
      const st = (await client().get(Resources.backend, 'backend-3', ns))['status'] as { conditions?: { type: string; message: string }[] } | undefined;
      return /^healthy on 1\/2 nodes; last failure: .*ENETUNREACH/.test(st?.conditions?.find((c) => c.type === 'Healthy')?.message ?? '');
    }, { what: 'Backend backend-3 Healthy "healthy on 1/2 nodes"', timeoutMs: 40_000 });
    await programmed('health check configured');
    const [fa, fb] = await fingerprints();
    expect(fa).toBe(fb);
    expect((await vipStatus(ns, 'web')).compiled?.backends.every((b) => (b as { unhealthy?: boolean }).unhealthy !== true)).toBe(true);

    const server = t.processes.find('http-backend-3:80');
    if (server === undefined) throw new Error('no server process for backend-3');
    const stopped = performance.now();
    server.child.kill('SIGUSR1');
    await waitFor(async () => {
      const st = await vipStatus(ns, 'web');
      const rev = st.compiled?.revision;
      if (st.compiled?.backends.find((b) => b.name === 'backend-3')?.['unhealthy' as never] !== true) return false;
      const nodes = await Promise.all(agents.map((x) => nodeStatus(x.name)));
      return nodes.every((n) => n.virtualIPs?.find((v) => v.id === `${ns}/web`)?.revision === rev);
    }, { what: 'backend-3 out of the ring on both nodes', timeoutMs: 30_000, intervalMs: 50 });
    const outMs = performance.now() - stopped;
    console.log(`server stopped -> both nodes programmed without it: ${outMs.toFixed(0)} ms (interval 2 s x unhealthyThreshold 2)`);
    const [ga, gb] = await fingerprints();
    expect(ga).toBe(gb);
    expect(ga).not.toBe(fa);
    await waitCondition(ns, 'web', 'Healthy', { status: 'False', reason: 'BackendsUnhealthy' });
    const stats = await traffic.burst(300, { concurrency: 8 });
    expect(stats.ok, JSON.stringify(stats)).toBe(300);
    expect(stats.counts['backend-3'] ?? 0).toBe(0);

    server.child.kill('SIGUSR2');
    await waitCondition(ns, 'web', 'Healthy', { status: 'True', reason: 'AllHealthy' }, 30_000);
    await programmed('backend-3 healthy again');
    const [ha, hb] = await fingerprints();
    expect(ha).toBe(hb);
    expect(ha).toBe(fa);
  });

  // Every backend fails on both nodes (lb2 fails them all anyway; stopping
  // every listener makes lb1 agree): the fleet marks all unhealthy, and every
  // node keeps all of them in the ring (fail open), so the rings are the
  // all-healthy ones; the VIP's condition, an event and the agents' logs say so.
  it('health: every backend failing on a majority of nodes fails open: the compiled state keeps all, both rings unchanged, condition and event say so', async () => {
    const [before, other] = await fingerprints();
    expect(before).toBe(other);
    const servers = be.map((b) => t.processes.find(`http-${b.name}:80`));
    for (const [i, s] of servers.entries()) if (s === undefined) throw new Error(`no server process for ${be[i]?.name ?? i}`);
    for (const s of servers) s?.child.kill('SIGUSR1');
    try {
      const st = await waitCondition(ns, 'web', 'Healthy', { status: 'False', reason: 'FailOpen' }, 30_000);
      expect(condition(st, 'Healthy')?.message).toMatch(/fail open/);
      expect((st as { healthyBackends?: number }).healthyBackends).toBe(0);
      const compiled = st.compiled?.backends ?? [];
      expect(compiled.map((b) => b.name).sort()).toEqual(be.map((b) => b.name).sort());
      expect(compiled.every((b) => (b as { unhealthy?: boolean }).unhealthy === true && b.weight > 0)).toBe(true);
      await programmed('fail open');
      const [fa, fb] = await fingerprints();
      expect(fa).toBe(fb);
      expect(fa).toBe(before);
      const event = await waitFor(async () => (await vipEvents('web')).find((e) => e.reason === 'FailOpen'), { what: 'a FailOpen event on VirtualIP web', timeoutMs: 10_000 });
      expect(event).toMatchObject({ type: 'Warning' });
      expect(event.note).toMatch(/fail open/);
      for (const a of agents) expect(a.proc.output().some((l) => /failing open/.test(l)), `${a.name} logs failing open`).toBe(true);
      for (const b of be) expect((await backendCondition(b.name, 'Healthy'))?.message, b.name).toMatch(/^healthy on 0\/2 nodes/);
    } finally {
      for (const s of servers) s?.child.kill('SIGUSR2');
    }
    await waitCondition(ns, 'web', 'Healthy', { status: 'True', reason: 'AllHealthy' }, 30_000);
    await programmed('all healthy again');
    expect((await fingerprints())[0]).toBe(before);
  });

  it('keeps forwarding while the controller is down and while the API server is unreachable', async () => {
    await controller?.stop();
    controller = undefined;
    expect((await traffic.burst(200, { concurrency: 8 })).ok).toBe(200);
    bridge?.cut();
    await new Promise((r) => setTimeout(r, 1500)); // watches broken, agents retrying
    const stats = await traffic.burst(200, { concurrency: 8 });
    expect(stats.ok, JSON.stringify(stats)).toBe(200);
    bridge?.restore();
    controller = startController({ leaseNamespace: ns, heartbeatTimeoutSeconds: 90 });
    // Reconnected agents and a new controller converge on a change made meanwhile.
    await applyObjects(ns, [web(4, 3)]);
    await waitCondition(ns, 'web', 'ResolvedRefs', { message: '5 backends selected, 5 with weight > 0' });
    await waitFor(async () => {
      const rev = (await vipStatus(ns, 'web')).compiled?.revision;
      const c = condition(await vipStatus(ns, 'web'), 'Programmed');
      return c?.status === 'True' && rev !== undefined;
    }, { what: 'Programmed again after the outage', timeoutMs: 60_000 });
  });

  it('removes a deleted VIP from both nodes before the object goes away', async () => {
    await kubectl(['delete', 'vip', 'web', '-n', ns, '--timeout=60s']);
    const nodes = await Promise.all(agents.map((x) => nodeStatus(x.name)));
    // The finalizer was released only after no live node reported it any more.
    for (const n of nodes) expect(n.virtualIPs?.some((v) => v.id === `${ns}/web`) ?? false).toBe(false);
    const { stdout } = await sterlet(t.lb.netns, ['stats', '--bpffs', join(bpffs.path, `${tag}-lb1`), '--json']);
    // Its idle connection-table entries may remain (flows, "no VIP") until evicted; the VIP itself is gone.
    expect((JSON.parse(stdout) as { vips: { key: string }[] }).vips.map((v) => v.key).join(' ')).not.toContain(t.vip);
    const stats = await traffic.burst(20, { concurrency: 4, timeoutMs: 500 });
    expect(stats.ok).toBe(0);
  });
});
