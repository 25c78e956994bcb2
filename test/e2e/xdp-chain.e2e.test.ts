// Coexisting with another XDP program (issue 13): an operator's DDoS filter
// is attached to the lb's interface with xdp-loader first; the agent starts
// with --xdp-chain and puts the balancer behind it (bpf/chain.bpf.c). The
// filter must keep dropping its blocked source while the balancer forwards
// the rest with real TCP; an upgrade of the balancer under load and a kill -9
// of the agent must fail no request; `sterlet detach` must leave the filter
// attached alone. The topology and fixture are those of agent.e2e.test.ts.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BpfMap, BpfProgram, MapType } from '../../src/libbpf/libbpf.ts';
import { parseLogLine, sterlet, waitForApplied, xdpOf, XDP_MODE_NATIVE, type LogRecord } from '../support/e2e/agent.ts';
import { buildFilterStage, buildVariantBalancer } from '../support/e2e/bpf-build.ts';
import { sameBackends } from '../support/e2e/client.ts';
import { stopLoadHitless } from '../support/e2e/load-check.ts';
import { ip, NODE_BIN, run } from '../support/exec.ts';
import { createAgentWorld, type AgentWorld } from '../support/e2e/world.ts';
import { VIP_PORT } from '../support/e2e/addressing.ts';

/** The filter's BLOCKED_SOURCE (test/e2e/progs/xdp_filter_stage.bpf.c), a second client address. */
const BLOCKED_SOURCE = '10.111.0.66';

describe('sterlet agent --xdp-chain behind a filter loaded with xdp-loader (netns, native XDP, real TCP)', () => {
  let w: AgentWorld;
  let filterId = 0;
  let bpffsPath = '';

  beforeAll(async () => {
    w = await createAgentWorld({
      backends: 3,
      agentArgs: ['--xdp-chain'],
      beforeAgent: async (t, bpffs) => {
        bpffsPath = bpffs.path;
        const filter = await buildFilterStage(t.scratch);
        await xdpLoader(t.lb.netns, ['load', '-m', 'native', t.lb.iface, filter]);
        filterId = (await xdpOf(t.lb.netns, t.lb.iface))?.id ?? 0;
        await ip(t.client.netns, 'addr', 'add', `${BLOCKED_SOURCE}/24`, 'dev', t.client.iface);
      },
    });
  });

  afterEach(async () => {
    await w?.client.reset();
  });

  afterAll(async () => {
    if (w) console.log(`e2e xdp-chain figures:\n${JSON.stringify(w.figures, null, 1)}`);
    await w?.t.destroy();
  });

  /** libxdp's bpffs is the run's bind-mounted one (`ip netns exec` hides /sys/fs/bpf); no dispatcher (see docs/operations.md). */
  function xdpLoader(netns: string, args: readonly string[]): Promise<{ stdout: string }> {
    return run(['env', `LIBXDP_BPFFS=${bpffsPath}`, 'LIBXDP_SKIP_DISPATCHER=1', 'xdp-loader', ...args], { netns });
  }

  /** One TCP connect to the VIP from `source`: "connected", "timeout" (nothing came back in 3 s) or an error code. */
  async function connectFrom(source: string): Promise<string> {
    const script = `const s = require('node:net').connect({ host: ${JSON.stringify(w.t.vip)}, port: ${String(VIP_PORT)}, localAddress: ${JSON.stringify(source)} });
s.setTimeout(3000);
s.on('connect', () => { console.log('connected'); s.destroy(); });
s.on('timeout', () => { console.log('timeout'); s.destroy(); });
s.on('error', (e) => console.log(e.code));`;
    const { stdout } = await run([NODE_BIN, '-e', script], { netns: w.t.client.netns, timeoutMs: 15_000 });
    return stdout.trim();
  }

  it('xdp-loader attached the filter alone before the agent started', () => {
    expect(filterId).toBeGreaterThan(0);
  });

  it('the chain root replaced the filter on the interface and kept it in front of the balancer', async () => {
    const created = await w.agent.process.waitForLine((l) => parseLogLine(l)?.msg === 'dataplane created and attached', { what: '"dataplane created and attached"' });
    const chain = (parseLogLine(created.line) ?? {}).chain as LogRecord | undefined;
    expect(chain?.upstream).toEqual({ id: filterId, name: 'xdp_filter' });
    const attached = await xdpOf(w.t.lb.netns, w.t.lb.iface);
    expect(attached?.id).toBe(chain?.rootId);
    expect(attached?.mode).toBe(XDP_MODE_NATIVE);
    const status = await xdpLoader(w.t.lb.netns, ['status', w.t.lb.iface]);
    expect(status.stdout).toMatch(/xdp_chain/);
  });

  it('both run in order: the blocked source is dropped by the filter, every other client is balanced', async () => {
    const dropsBefore = filterDrops(filterId);
    expect(await connectFrom(BLOCKED_SOURCE)).toBe('timeout');
    expect(filterDrops(filterId), 'the filter counted the blocked SYNs').toBeGreaterThan(dropsBefore);
    expect(await connectFrom(w.t.client.address)).toBe('connected');
    const burst = await w.client.burst(90);
    expect(burst.ok).toBe(90);
    expect(Object.keys(burst.counts).sort()).toEqual(['backend-1', 'backend-2', 'backend-3']);
  });

  it('kill -9 of the agent and its restart adopt the chain: zero failed requests', async () => {
    const rootBefore = await xdpOf(w.t.lb.netns, w.t.lb.iface);
    await w.client.startLoad({ concurrency: 2, ratePerSecond: 100 });
    try {
      await w.client.waitForLoadProgress(50);
      await w.agent.kill9();
      await w.client.waitForLoadProgress(100);
      const proc = w.agent.start();
      await proc.waitForLine((l) => parseLogLine(l)?.msg === 'dataplane adopted', { timeoutMs: 60_000, what: '"dataplane adopted"' });
      await waitForApplied(proc, 0, { timeoutMs: 60_000 });
      await w.client.waitForLoadProgress(100);
      expect((await xdpOf(w.t.lb.netns, w.t.lb.iface))?.id).toBe(rootBefore?.id);
    } finally {
      await stopLoadHitless(w, 'load across kill -9 + restart');
    }
  });

  it('an upgrade of the balancer under load swaps its slot: zero failed requests, the root stays attached', async () => {
    const variant = await buildVariantBalancer(w.t.scratch);
    await w.client.open(12);
    const held = await w.client.round();
    const rootBefore = await xdpOf(w.t.lb.netns, w.t.lb.iface);
    await w.client.startLoad({ concurrency: 2, ratePerSecond: 100 });
    try {
      await w.client.waitForLoadProgress(50);
      await w.agent.stop();
      const proc = w.agent.start({ bpfObject: variant });
      const upgraded = await proc.waitForLine((l) => parseLogLine(l)?.msg === 'dataplane upgraded', { timeoutMs: 60_000, what: '"dataplane upgraded"' });
      await waitForApplied(proc, 0, { timeoutMs: 60_000 });
      await w.client.waitForLoadProgress(100);
      expect((await xdpOf(w.t.lb.netns, w.t.lb.iface))?.id, 'the interface keeps the chain root').toBe(rootBefore?.id);
      w.figures['upgrade'] = { programId: parseLogLine(upgraded.line)?.programId, root: rootBefore?.id };
    } finally {
      await stopLoadHitless(w, 'load across upgrade');
    }
    expect(await w.client.round(), 'the new build uses the same connection table').toEqual(sameBackends(held));
    await w.client.closeAll();
    expect(await connectFrom(BLOCKED_SOURCE), 'the filter still runs first').toBe('timeout');
  });

  it('`sterlet detach` takes the balancer out and leaves the filter attached alone', async () => {
    await w.agent.stop();
    const out = await sterlet(w.t.lb.netns, ['detach', '--interface', w.t.lb.iface, '--bpffs', w.lbBpffs]);
    expect(out.stdout).toMatch(/xdp_filter .* runs alone/);
    expect((await xdpOf(w.t.lb.netns, w.t.lb.iface))?.id).toBe(filterId);
    const status = await xdpLoader(w.t.lb.netns, ['status', w.t.lb.iface]);
    expect(status.stdout).toMatch(/xdp_filter\s+native\s+\d+/);
    expect(status.stdout).not.toMatch(/xdp_chain/);
    const dropsBefore = filterDrops(filterId);
    expect(await connectFrom(BLOCKED_SOURCE)).toBe('timeout');
    expect(filterDrops(filterId), 'the filter alone still drops').toBeGreaterThan(dropsBefore);
  });
});

/** The filter's own drop counter (its `filter_drops` ARRAY), read through the program's maps. */
function filterDrops(programId: number): number {
  const prog = BpfProgram.fromId(programId);
  try {
    for (const id of prog.info().mapIds) {
      const map = BpfMap.fromId(id);
      try {
        const info = map.info();
        if (info.type === MapType.ARRAY && info.name === 'filter_drops') return Number((map.lookup(Buffer.alloc(4)) ?? Buffer.alloc(8)).readBigUInt64LE(0));
      } finally {
        map.close();
      }
    }
  } finally {
    prog.close();
  }
  throw new Error(`E2E_NO_FILTER_COUNTER: program ${String(programId)} has no filter_drops map`);
}
