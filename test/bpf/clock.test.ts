// The connection table's clock (bpf/include/clock.h) against the real kernel:
// with this host's tick the entries' atimes are the helper clock's (what the
// agent's atimeNow() reads), and they really come from jiffies x tickNs: a
// tick 1000x too long makes 150 ms look like minutes. tickNs 0 keeps the helper.
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeLruVal } from '../../src/agent/dataplane/codec.ts';
import { atimeNow } from '../../src/agent/dataplane/layout.ts';
import { hostTickNs } from '../../src/agent/host/kernel-hz.ts';
import { build } from '../../src/packet/build.ts';
import { BalancerEnv } from './harness/balancer-env.ts';
import { clientFrame, flowTo, type Flow } from './harness/frames.ts';

const C4 = '192.0.2.41';

describe('connection-table clock', () => {
  let env: BalancerEnv | undefined;
  afterEach(() => {
    env?.close();
    env = undefined;
  });

  /** Forwards a TCP ACK of the flow (creating its entry) and returns the entry's atime. */
  function atimeOf(f: Flow): number {
    expect(env!.run(build(clientFrame(f, { flags: 'A' }))).retval).toBe(3);
    const v = env!.lruEntry(f);
    expect(v, 'the ACK created an entry').toBeDefined();
    return decodeLruVal(v!).atime;
  }

  it("knows this host's tick, and its atimes are the agent's clock", () => {
    expect(hostTickNs(), 'CONFIG_HZ of this kernel (/proc/config.gz or /boot/config-*)').toBeGreaterThan(0);
    env = new BalancerEnv();
    for (let i = 0; i < 20; i++) {
      const now = atimeNow();
      expect(atimeOf(flowTo('web4', C4, 30000 + i)) - now).toBeOneOf([-1, 0, 1]);
    }
  });

  it('counts jiffies x tickNs: a tick 1000x too long makes 150 ms minutes', async () => {
    env = new BalancerEnv({ tickNs: hostTickNs() * 1000 });
    const first = atimeOf(flowTo('web4', C4, 31000)); // finds the clock's constant
    expect(first - atimeNow()).toBeOneOf([-1, 0, 1]);
    await sleep(150);
    const later = atimeOf(flowTo('web4', C4, 31001));
    // >= 150 ms = >= 37 ticks at 250 Hz, each "4000 s" long: >= 100 units of 1.07 s.
    expect(later - first).toBeGreaterThan(100);
  });

  it('tickNs 0 reads the clock with the helper', async () => {
    env = new BalancerEnv({ tickNs: 0 });
    const first = atimeOf(flowTo('web4', C4, 32000));
    await sleep(150);
    expect(atimeOf(flowTo('web4', C4, 32001)) - first).toBeOneOf([0, 1]);
    expect(first - atimeNow()).toBeOneOf([-1, 0, 1]);
  });
});
