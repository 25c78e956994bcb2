// VIP announcement through real BGP and ECMP with zero broken connections.
// A BIRD 2 router (multipath into its kernel FIB, L4 hashing) peers with two
// load-balancer nodes, each running the agent and gobgpd; three backends.
// The headline: 100 long-lived TCP connections, a request every 100 ms each,
// spread by the router over both nodes; one node stops gracefully (withdraws,
// drains, exits) and comes back, and no connection breaks, because both
// nodes build the same Maglev ring and pick the same backend without sharing
// a connection table. The baseline repeats it with different rings.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ip } from '../support/exec.ts';
import { fibNextHops, waitForNextHops } from '../support/e2e/bgp.ts';
import { createEcmpWorld, type EcmpWorld } from '../support/e2e/ecmp-world.ts';
import { StreamClient, type StreamStats } from '../support/e2e/stream.ts';
import { waitForApplied } from '../support/e2e/agent.ts';

const CONNECTIONS = 100;
const figures: Record<string, unknown> = {};
const both = (w: EcmpWorld) => (hops: string[]) => hops.length === 2 && w.nodes.every((n) => hops.includes(n.lb.address));
const only = (address: string) => (hops: string[]) => hops.length === 1 && hops[0] === address;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Packets the router sent to each lb node since `before` (who carries the flows). */
async function txTo(w: EcmpWorld): Promise<number[]> {
  return Promise.all(w.nodes.map(async (n) => (await w.t.routerCounters(n.lb.routerPort)).tx.packets));
}

describe('BGP announcement and ECMP (BIRD router, two agents with gobgpd)', () => {
  let w: EcmpWorld;

  beforeAll(async () => {
    w = await createEcmpWorld();
  }, 300_000);

  afterAll(async () => {
    console.log(`bgp-ecmp figures: ${JSON.stringify(figures)}`);
    await w?.t.destroy();
  });

  it('the router learns the VIP with both load-balancer nodes as next hops', async () => {
    figures['announce ms (from agents applied)'] = await waitForNextHops(w.t.router.netns, w.prefix, both(w));
  });

  it('headline: graceful stop of one node withdraws within 5 s and breaks no connection; its return breaks none either', async () => {
    const [lb1, lb2] = w.nodes as [EcmpWorld['nodes'][0], EcmpWorld['nodes'][0]];
    const client = await StreamClient.start(w.t, CONNECTIONS);
    try {
      const ready = await client.waitAnswering();
      expect(ready.answering, JSON.stringify(ready)).toBe(CONNECTIONS);
      // Both nodes carry a share of the flows.
      const tx0 = await txTo(w);
      await sleep(1000);
      const tx1 = await txTo(w);
      const shares = tx1.map((v, i) => v - (tx0[i] ?? 0));
      figures['packets per node in 1 s before the stop'] = shares;
      expect(Math.min(...shares), `router -> lb packets ${JSON.stringify(shares)}`).toBeGreaterThan(50);

      await client.mark();
      const stopped = Date.now();
      const stopping = lb1.agent.stop();
      const withdrawnMs = await waitForNextHops(w.t.router.netns, w.prefix, only(lb2.lb.address), 5000);
      figures['withdrawn after SIGTERM ms'] = withdrawnMs;
      expect(await stopping).toBe(0);
      figures['agent exit after SIGTERM ms (drain 2 s)'] = Date.now() - stopped;
      await sleep(3000);
      const afterStop: StreamStats = await client.stats();
      figures['after graceful stop'] = { broken: afterStop.broken, reasons: afterStop.reasons, maxStallMs: afterStop.maxStallMs, backendChanges: afterStop.backendChanges };
      expect(afterStop.broken, `${JSON.stringify(afterStop.reasons)}\n${w.logs()}`).toBe(0);
      expect(afterStop.backendChanges).toBe(0);

      await client.mark();
      const from = 0;
      const back = lb1.agent.start();
      await waitForApplied(back, from, { timeoutMs: 60_000 });
      figures['re-announced after restart ms'] = await waitForNextHops(w.t.router.netns, w.prefix, both(w), 15_000);
      await sleep(3000);
      const afterReturn = await client.stats();
      figures['after return'] = { broken: afterReturn.broken, reasons: afterReturn.reasons, maxStallMs: afterReturn.maxStallMs, backendChanges: afterReturn.backendChanges };
      expect(afterReturn.broken, `${JSON.stringify(afterReturn.reasons)}\n${w.logs()}`).toBe(0);
      expect(afterReturn.backendChanges).toBe(0);
      // The flows really moved back: lb1 forwards again.
      const tx2 = await txTo(w);
      await sleep(1000);
      const tx3 = await txTo(w);
      expect(tx3[0]! - tx2[0]!).toBeGreaterThan(50);
    } finally {
      const { localPorts: _ports, ...final } = await client.stop();
      figures['headline final'] = final;
    }
  });

  it('XDP program found detached on a node: its route is withdrawn; a restarted agent re-attaches and announces again', async () => {
    const lb1 = w.nodes[0]!;
    const from = lb1.agent.process.mark();
    await ip(lb1.lb.netns, 'link', 'set', 'dev', lb1.lb.iface, 'xdpdrv', 'off');
    figures['withdrawn after XDP detach ms'] = await waitForNextHops(w.t.router.netns, w.prefix, only(w.nodes[1]!.lb.address), 5000);
    await lb1.agent.process.waitForLine(/"reasons":\["Detached"\].*VIP route withdrawn|VIP route withdrawn.*"Detached"/, { from, what: 'the withdrawal naming Detached' });
    await lb1.agent.stop();
    await waitForApplied(lb1.agent.start(), 0, { timeoutMs: 60_000 });
    await waitForNextHops(w.t.router.netns, w.prefix, both(w), 15_000);
  });

  it('kill -9 of an agent withdraws nothing and traffic keeps flowing; the next agent adopts the routes without a withdrawal', async () => {
    const lb1 = w.nodes[0]!;
    const client = await StreamClient.start(w.t, 40);
    try {
      expect((await client.waitAnswering()).answering).toBe(40);
      await lb1.agent.kill9();
      // Watch the FIB for 3 s (a third of the hold time): both next hops stay.
      for (let i = 0; i < 30; i++) {
        expect(both(w)(await fibNextHops(w.t.router.netns, w.prefix))).toBe(true);
        await sleep(100);
      }
      const back = lb1.agent.start();
      await waitForApplied(back, 0, { timeoutMs: 60_000 });
      for (let i = 0; i < 20; i++) {
        expect(both(w)(await fibNextHops(w.t.router.netns, w.prefix))).toBe(true);
        await sleep(100);
      }
      expect(back.output().filter((l) => l.includes('VIP route withdrawn'))).toEqual([]);
      const s = await client.stats();
      figures['kill -9 and restart'] = { broken: s.broken, maxStallMs: s.maxStallMs };
      expect(s.broken, JSON.stringify(s.reasons)).toBe(0);
    } finally {
      await client.stop();
    }
  });

  it('a restarted speaker (gobgpd killed) is configured and re-announced by the running agent', async () => {
    const lb1 = w.nodes[0]!;
    const from = lb1.agent.process.mark();
    await w.restartSpeaker(lb1);
    await lb1.agent.process.waitForLine(/starting BGP/, { from, timeoutMs: 10_000, what: 'the speaker being reconfigured' });
    figures['re-announced after speaker restart ms'] = await waitForNextHops(w.t.router.netns, w.prefix, both(w), 20_000);
  });

  it('VIP deleted: withdrawn from both nodes', async () => {
    await w.program(false);
    figures['withdrawn after VIP delete ms (from both applied)'] = await waitForNextHops(w.t.router.netns, w.prefix, (hops) => hops.length === 0, 5000);
  });
});

describe('baseline: the same ECMP change with different rings on the two nodes', () => {
  let w: EcmpWorld;
  const baseline: Record<string, unknown> = {};

  beforeAll(async () => {
    // 65537 vs 65521 slots: same backends, different Maglev permutations.
    w = await createEcmpWorld({ ringSizes: [65537, 65521] });
    await waitForNextHops(w.t.router.netns, w.prefix, both(w));
  }, 300_000);

  afterAll(async () => {
    console.log(`bgp-ecmp baseline figures: ${JSON.stringify(baseline)}`);
    await w?.t.destroy();
  });

  it('connections moved by the withdrawal break (measured, so the 0 above is against something)', async () => {
    const [lb1, lb2] = w.nodes as [EcmpWorld['nodes'][0], EcmpWorld['nodes'][0]];
    const client = await StreamClient.start(w.t, CONNECTIONS);
    try {
      expect((await client.waitAnswering()).answering).toBe(CONNECTIONS);
      const tx0 = await txTo(w);
      await sleep(1000);
      const tx1 = await txTo(w);
      const onLb1Packets = (tx1[0] ?? 0) - (tx0[0] ?? 0);
      await lb1.agent.stop();
      await waitForNextHops(w.t.router.netns, w.prefix, only(lb2.lb.address), 5000);
      await sleep(3000);
      const s = await client.stats();
      baseline['broken after graceful stop'] = { broken: s.broken, of: CONNECTIONS, reasons: s.reasons, lb1PacketsPerSecondBefore: onLb1Packets };
      expect(s.broken).toBeGreaterThan(0);
    } finally {
      await client.stop();
    }
  });
});

