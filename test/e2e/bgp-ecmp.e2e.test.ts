// VIP announcement through real BGP and ECMP with zero broken connections.
// A BIRD 2 router (multipath into its kernel FIB, L4 hashing) peers with two
// load-balancer nodes, each running the agent and gobgpd; three backends.
// The headline: 100 long-lived TCP connections, a request every 100 ms each,
// spread by the router over both nodes; one node stops gracefully (withdraws,
// drains, exits) and comes back, and no connection breaks, because both
// nodes build the same Maglev ring and pick the same backend without sharing
// a connection table. The baseline repeats it with different rings.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ip } from './lib/exec.ts';
import { fibNextHops, waitForNextHops } from './lib/bgp.ts';
import { createEcmpWorld, type EcmpWorld } from './lib/ecmp-world.ts';
import { StreamClient, type StreamStats } from './lib/stream.ts';
import { waitForApplied } from './lib/agent.ts';

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
});
