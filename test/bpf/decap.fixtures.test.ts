// Runs the decap fixture table through BPF_PROG_TEST_RUN; fresh program per fixture.
import { afterEach, describe, expect, it } from 'vitest';
import { build } from '../../src/packet/build.ts';
import { verifyChecksums } from '../../src/packet/parse.ts';
import { DecapEnv } from './harness/decap-env.ts';
import { XDP_RETVAL } from './harness/fixture.ts';
import { decapFixtures } from './fixtures/decap.ts';

describe('decap fixtures', () => {
  let env: DecapEnv | undefined;
  afterEach(() => {
    env?.close();
    env = undefined;
  });

  it.each(decapFixtures.map((f) => [f.name, f] as const))('%s', (_name, f) => {
    env = new DecapEnv();
    const input = Buffer.isBuffer(f.input) ? f.input : build(f.input);
    const before = env.counters();
    const out = env.run(input);
    const after = env.counters();

    expect(out.retval, 'verdict').toBe(XDP_RETVAL[f.verdict]);
    const want = f.output === 'input' ? input : build(f.output);
    expect(out.data.toString('hex'), 'output frame').toBe(want.toString('hex'));
    if (f.output !== 'input') expect(verifyChecksums(out.data)).toEqual([]);
    const delta: Record<string, number> = {};
    for (const k of Object.keys(before) as (keyof typeof before)[]) {
      const d = Number(after[k] - before[k]);
      if (d !== 0) delta[k] = d;
    }
    expect(delta, 'counters').toEqual(f.counters);
  });
});
