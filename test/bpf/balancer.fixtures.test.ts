// Runs the balancer fixture tables through BPF_PROG_TEST_RUN on the real
// kernel; every fixture gets a freshly loaded program and maps.
import { afterEach, describe, expect, it } from 'vitest';
import { build } from '../../src/packet/build.ts';
import { verifyChecksums } from '../../src/packet/parse.ts';
import { BalancerEnv, deltas } from './harness/balancer-env.ts';
import { XDP_RETVAL, type BalancerFixture } from './harness/fixture.ts';
import { forwardingFixtures } from './fixtures/forwarding.ts';
import { icmpAndDropFixtures } from './fixtures/icmp-and-drops.ts';
import { lengthFixtures } from './fixtures/lengths.ts';
import { quicFixtures } from './fixtures/quic.ts';
import { removalFixtures } from './fixtures/removal.ts';
import { bucketFixtures } from './fixtures/buckets.ts';

const fixtures: BalancerFixture[] = [...forwardingFixtures, ...icmpAndDropFixtures, ...removalFixtures, ...quicFixtures, ...lengthFixtures, ...bucketFixtures];

describe('balancer fixtures', () => {
  let env: BalancerEnv | undefined;
  afterEach(() => {
    env?.close();
    env = undefined;
  });

  it('has unique names and at least 40 fixtures', () => {
    expect(new Set(fixtures.map((f) => f.name)).size).toBe(fixtures.length);
    expect(fixtures.length).toBeGreaterThanOrEqual(40);
  });

  it.each(fixtures.map((f) => [f.name, f] as const))('%s', (_name, f) => {
    env = new BalancerEnv(f.env ?? {});
    f.prepare?.(env);
    const input = Buffer.isBuffer(f.input) ? f.input : build(f.input);
    const before = env.snapshot();
    const out = env.run(input);
    const after = env.snapshot();

    expect(out.retval, 'verdict').toBe(XDP_RETVAL[f.verdict]);
    const want = f.output === 'input' ? input : build(f.output);
    expect(out.data.toString('hex'), 'output frame').toBe(want.toString('hex'));
    if (f.verdict === 'TX') expect(verifyChecksums(out.data), 'checksums').toEqual([]);
    const d = deltas(before, after);
    expect(d.global, 'global counters').toEqual(f.counters);
    expect(d.vip, 'per-VIP counters').toEqual(f.vip ?? {});
    expect(d.real, 'per-real counters').toEqual(f.real ?? {});
    f.check?.(env, out.data);
  });
});
