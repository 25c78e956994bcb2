// The agent end to end with real TCP (issue 3 §8), part 2: lifecycle under
// continuous requests. kill -9 and restart, an upgrade to another program
// build, an invalid manifest change: none may fail a request, reset a
// connection, or forget an established flow. This agent finds its gateway
// MAC itself (no --gateway-mac). Ends with `sterlet detach`.
// The topology and fixture are described in agent.e2e.test.ts / lib/world.ts.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseLogLine, sterlet, waitForApplied, waitForRejected, xdpOf, XDP_MODE_NATIVE } from '../support/e2e/agent.ts';
import { buildVariantBalancer } from '../support/e2e/bpf-build.ts';
import { sameBackends } from '../support/e2e/client.ts';
import { stopLoadHitless } from '../support/e2e/load-check.ts';
import { createAgentWorld, type AgentWorld } from '../support/e2e/world.ts';

describe('sterlet agent end to end: lifecycle under load (netns, native XDP, real TCP)', () => {
  let w: AgentWorld;

  beforeAll(async () => {
    w = await createAgentWorld({ backends: 3, discoverGateway: true });
  });

  afterEach(async () => {
    await w?.client.reset();
  });

  afterAll(async () => {
    if (w) console.log(`e2e lifecycle figures:\n${JSON.stringify(w.figures, null, 1)}`);
    await w?.t.destroy();
  });

  it('discovered the gateway MAC from the kernel (started without --gateway-mac)', async () => {
    const { line } = await w.agent.process.waitForLine((text) => parseLogLine(text)?.msg === 'agent started', { what: '"agent started"' });
    expect(parseLogLine(line)?.gateway).toMatchObject({ source: 'kernel', mac: await w.t.gatewayMac() });
  });

  it('kill -9 of the agent and its restart: zero failed requests, zero resets, connections remembered', async () => {
    await w.client.open(12);
    const held = await w.client.round();
    await w.client.startLoad({ concurrency: 2, ratePerSecond: 100 });
    try {
      await w.client.waitForLoadProgress(50);
      const progId = (await xdpOf(w.t.lb.netns, w.t.lb.iface))?.id;
      await w.agent.kill9();
      // With no agent at all the attached program keeps forwarding.
      await w.client.waitForLoadProgress(100);
      const proc = w.agent.start();
      await proc.waitForLine((line) => parseLogLine(line)?.msg === 'dataplane adopted', { timeoutMs: 60_000, what: '"dataplane adopted"' });
      await waitForApplied(proc, 0, { timeoutMs: 60_000 });
      await w.client.waitForLoadProgress(100);
      expect((await xdpOf(w.t.lb.netns, w.t.lb.iface))?.id, 'restart adopts the attached program').toBe(progId);
    } finally {
      await stopLoadHitless(w, 'load across kill -9 + restart');
    }
    expect(await w.client.round()).toEqual(sameBackends(held));
    await w.client.closeAll();
  });

  it('an upgrade to another program build replaces it atomically: zero failed requests, zero resets', async () => {
    const variant = await buildVariantBalancer(w.t.scratch);
    await w.client.open(12);
    const held = await w.client.round();
    await w.client.startLoad({ concurrency: 2, ratePerSecond: 100 });
    try {
      await w.client.waitForLoadProgress(50);
      const before = await xdpOf(w.t.lb.netns, w.t.lb.iface);
      await w.agent.stop();
      await w.client.waitForLoadProgress(50);
      const proc = w.agent.start({ bpfObject: variant });
      await proc.waitForLine((line) => parseLogLine(line)?.msg === 'dataplane upgraded', { timeoutMs: 60_000, what: '"dataplane upgraded"' });
      await waitForApplied(proc, 0, { timeoutMs: 60_000 });
      await w.client.waitForLoadProgress(100);
      const after = await xdpOf(w.t.lb.netns, w.t.lb.iface);
      expect(after?.id, 'a new program is attached').not.toBe(before?.id);
      expect(after?.mode).toBe(XDP_MODE_NATIVE);
    } finally {
      await stopLoadHitless(w, 'load across upgrade');
    }
    expect(await w.client.round(), 'the new program uses the same connection table').toEqual(sameBackends(held));
    await w.client.closeAll();
  });

  it('rejects an invalid manifest change with a clear message and keeps serving the previous state', async () => {
    await w.client.startLoad({ concurrency: 2, ratePerSecond: 100 });
    try {
      await w.client.waitForLoadProgress(20);
      const from = w.agent.process.mark();
      const valid = w.documents(w.be.slice(0, 3).map((backend) => ({ backend })));
      // A typo-class mistake: a negative weight on backend-2 (weights are 0-1000).
      await w.manifests.write(valid.map((doc) => (JSON.stringify(doc).includes('"name":"backend-2"') ? withWeight(doc, -1) : doc)));
      const rejected = await waitForRejected(w.agent.process, from);
      w.figures['rejection message'] = rejected.msg;
      expect(String(rejected.msg)).toMatch(/backend-2/);
      expect(String(rejected.msg)).toMatch(/weight/);
      await w.client.waitForLoadProgress(100);
    } finally {
      const stats = await w.client.stopLoad();
      expect(stats.failures, w.failureReport(stats)).toBe(0);
      expect(Object.keys(stats.counts).sort()).toEqual(['backend-1', 'backend-2', 'backend-3']);
    }
    const burst = await w.client.burst(150);
    expect(burst.ok).toBe(150);
    expect(Object.keys(burst.counts).sort()).toEqual(['backend-1', 'backend-2', 'backend-3']);
  });

  // The agent's 30 s poll cannot explain a pickup within 5 s: the file watch saw
  // each rename (Node 24's recursive fs.watch missed all but the first; the
  // source now watches each directory non-recursively).
  it('picks up a manifest replaced by rename (editors, ConfigMap volumes) from the file watch alone, within 5 s', async () => {
    for (const weight of [3, 1]) {
      const from = w.agent.process.mark();
      await w.manifests.replace(w.documents([{ backend: w.be[0]!, weight }, { backend: w.be[1]! }, { backend: w.be[2]! }]));
      await waitForApplied(w.agent.process, from, { changed: true, timeoutMs: 5_000 });
    }
  });

  it('`sterlet detach` removes the program and the pins', async () => {
    await w.agent.stop();
    await sterlet(w.t.lb.netns, ['detach', '--interface', w.t.lb.iface, '--bpffs', w.lbBpffs]);
    expect(await xdpOf(w.t.lb.netns, w.t.lb.iface)).toBeUndefined();
    expect(await readdir(join(w.bpffs.hostPath, 'lb')).catch(() => [])).toEqual([]);
  });
});

function withWeight(doc: object, weight: number): object {
  const copy = structuredClone(doc) as { spec: Record<string, unknown> };
  copy.spec.weight = weight;
  return copy;
}
