// The agent's periodic flow count over the loaded balancer's tables: node
// status gets the per-backend counts only when they change, the metric hook
// every count, and aborting stops the loop.
import { describe, expect, it } from 'vitest';
import type { BackendFlows } from '../../src/api/load-balancer-node.ts';
import type { FlowReport } from '../../src/agent/dataplane/flow-report.ts';
import { openConnectionTables } from '../../src/agent/dataplane/flows.ts';
import { atimeNow, secondsToAtime } from '../../src/agent/dataplane/layout.ts';
import { watchFlows } from '../../src/agent/dataplane/flow-watch.ts';
import { readLive } from '../../src/agent/dataplane/maps-io.ts';
import { build } from '../../src/packet/build.ts';
import { BalancerEnv } from './harness/balancer-env.ts';
import { clientFrame, flowTo, ringReal } from './harness/frames.ts';
import { REALS, SIZES } from './harness/world.ts';

const until = async (what: string, pred: () => boolean): Promise<void> => {
  const deadline = Date.now() + 5000;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('watchFlows', () => {
  it('reports per-backend counts when they change, and stops on abort', async () => {
    const env = new BalancerEnv();
    const changes: BackendFlows[] = [];
    const counts: FlowReport[] = [];
    const stop = new AbortController();
    try {
      const f = flowTo('web4', '192.0.2.7', 44000);
      expect(env.run(build(clientFrame(f, { flags: 'A' }))).retval).toBe(3);
      const loop = watchFlows({
        tables: () => openConnectionTables(env.lb.maps),
        live: () => readLive(env.lb.maps, SIZES),
        intervalMs: 20,
        recentSeconds: 60,
        onCount: (r) => counts.push(r),
        onChange: (c) => changes.push(c),
      }, stop.signal);
      await until('a first report', () => changes.length === 1);
      expect(changes[0]).toMatchObject({ recentSeconds: 60, backends: [{ address: REALS[ringReal('web4', f)], flows: 1, recent: 1 }] });
      const seen = counts.length;
      await until('more counts', () => counts.length >= seen + 3);
      expect(changes.length, 'unchanged counts are not reported again').toBe(1);

      env.pinFlow(flowTo('web4', '198.51.100.9', 5000), 6, atimeNow() - secondsToAtime(300));
      await until('the idle flows of real 6', () => changes.length === 2);
      expect(changes[1]?.backends.find((b) => b.address === REALS[6])).toEqual({ address: REALS[6], flows: env.tables().length, recent: 0 });
      stop.abort();
      await loop;
    } finally {
      stop.abort();
      env.close();
    }
  });
});
