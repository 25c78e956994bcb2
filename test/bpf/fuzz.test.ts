// Differential packet fuzzing: generated frames (test/bpf/fuzz/generate.ts)
// through the reference build (bpf/ at test/bpf/fuzz/base-rev, `make
// fuzz-base`) and this build; identical verdicts and output bytes except the
// listed intended differences (fuzz/intended.ts), and every XDP_TX output
// checked by an independent scapy oracle (fuzz/oracle.py). This is the seeded,
// bounded run; `make fuzz` runs a long one (STERLET_FUZZ_FRAMES, STERLET_FUZZ_SEED).
// STERLET_FUZZ_BASE_OBJECT / STERLET_FUZZ_BASE_DECAP pick another reference;
// STERLET_FIXTURE_OBJECT another build under test.

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { build } from '../../src/packet/build.ts';
import { clientFrame, flowTo } from './harness/frames.ts';
import { BalancerEnv } from './harness/balancer-env.ts';
import { oraclePython, runFuzz, runOracle } from './fuzz/differential.ts';

const REPO = new URL('../../', import.meta.url).pathname;
const SEED = Number(process.env.STERLET_FUZZ_SEED ?? 17);
const COUNT = Number(process.env.STERLET_FUZZ_FRAMES ?? 30_000);

/**
 * Oracle findings that stand for known defects owned elsewhere: counted and
 * printed, not failed on. Everything else the oracle finds fails the suite.
 */
const KNOWN: Record<string, string> = {
  // Empty since issue 18 made QUIC server ids per VIP; it listed 'quic-cross-vip' and 'v6-inner-in-v4'.
};

function referenceObjects(): { balancer: string; decap: string } {
  const rev = readFileSync(join(REPO, 'test/bpf/fuzz/base-rev'), 'utf8').trim();
  const dir = join(REPO, 'build/bpf/rev', rev);
  const balancer = process.env.STERLET_FUZZ_BASE_OBJECT ?? join(dir, 'balancer.bpf.o');
  const decap = process.env.STERLET_FUZZ_BASE_DECAP ?? join(dir, 'decap.bpf.o');
  if (!existsSync(balancer) || !existsSync(decap)) {
    const r = spawnSync('make', ['-C', REPO, '-s', 'fuzz-base'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`FUZZ_BASE_BUILD: \`make fuzz-base\` failed (is ${rev} in this clone's history?):\n${r.stderr}`);
  }
  return { balancer, decap };
}

describe('differential fuzz', () => {
  test('the oracle finds broken outputs (it can fail)', () => {
    const env = new BalancerEnv();
    try {
      const input = build(clientFrame(flowTo('gue4', '192.0.2.7', 40000)));
      const out = env.run(input).data;
      expect(env.run(input).retval).toBe(3);
      const badIpCsum = Buffer.from(out);
      badIpCsum[14 + 10]! ^= 0xff;
      const badInner = Buffer.from(out);
      badInner[badInner.length - 1]! ^= 1;
      const otherBackend = Buffer.from(out);
      otherBackend[14 + 19] = 99; // outer destination 10.0.1.99: no backend, no client
      const res = runOracle(
        oraclePython(),
        [
          { id: 1, in: input, out },
          { id: 2, in: input, out: badIpCsum },
          { id: 3, in: input, out: badInner },
          { id: 4, in: input, out: otherBackend },
        ],
        join(REPO, 'build/fuzz/oracle-selftest.jsonl'),
      );
      const codes = new Map(res.findings.map((f) => [f.id, f.findings.map(([c]) => c)]));
      expect(codes.get(1)).toBeUndefined();
      expect(codes.get(2)).toContain('outer-ip-csum');
      expect(codes.get(3)).toContain('inner-changed');
      expect(codes.get(4)).toEqual(['unknown-output']);
    } finally {
      env.close();
    }
  });

  test(`${COUNT} frames from seed ${SEED}: same verdicts and bytes as the reference build, every TX output valid`, { timeout: Math.max(600_000, COUNT * 5) }, () => {
    const next = { balancer: process.env.STERLET_FIXTURE_OBJECT ?? join(REPO, 'build/bpf/balancer.bpf.o'), decap: join(REPO, 'build/bpf/decap.bpf.o') };
    const t0 = Date.now();
    const report = runFuzz({ seed: SEED, count: COUNT, base: referenceObjects(), next });
    const known = Object.fromEntries(Object.entries(report.oracle.findings).filter(([c]) => c in KNOWN));
    const unknown = Object.fromEntries(Object.entries(report.oracle.findings).filter(([c]) => !(c in KNOWN)));
    console.log(
      JSON.stringify(
        { seed: SEED, seconds: (Date.now() - t0) / 1000, frames: report.frames, decapFrames: report.decapFrames, verdicts: report.verdicts, kinds: report.kinds, intended: report.intended, unexplained: report.unexplainedCount, oracleChecked: report.oracle.checked, oracleKinds: report.oracle.kinds, knownFindings: known, findings: unknown },
        null,
        1,
      ),
    );
    writeFileSync(join(REPO, `build/fuzz/report-${SEED}-${COUNT}.json`), JSON.stringify(report, null, 1));
    for (const [code, ex] of Object.entries(report.oracle.examples)) console.log(`${code}${KNOWN[code] ? ` (known: ${KNOWN[code]})` : ''}:\n  ${ex.join('\n  ')}`);
    expect(report.unexplained, 'differences from the reference build that no intended difference explains').toEqual([]);
    expect(unknown, 'oracle findings on this build\'s TX outputs').toEqual({});
    expect(report.oracle.checked).toBeGreaterThan(COUNT / 10);
  });
});
