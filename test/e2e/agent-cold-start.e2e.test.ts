// Issue 15 §5: a cold standalone start on a large manifest set keeps the
// agent's /healthz answering while the first state is applied. 256 VIPs x
// 100 Backends (25,856 documents) with nothing pinned: the apply builds 256
// Maglev rings of 65537 slots and writes 16.8M ring slots, seconds of work on
// this machine. Before, plan + map writes ran in one piece on the event loop
// and no request could be answered between "applying" and "applied"; now the
// rings come from worker threads and the apply yields between steps. The test
// asserts order (an answer that was sent after "applying" and came back before
// "applied"), never a latency bound.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentRunner, parseLogLine, waitForApplied, type LogRecord } from '../support/e2e/agent.ts';
import { createBpffsDir } from '../support/e2e/bpffs.ts';
import { MANIFEST_BACKENDS, writeManifestSet } from '../support/e2e/manifest-set.ts';
import type { ManagedProcess } from '../support/e2e/processes.ts';
import { Topology } from '../support/e2e/topology.ts';
import { NODE_BIN, REPO_ROOT } from '../support/exec.ts';

const VIPS = 256;

interface Answer {
  readonly at: number;
  readonly ms: number;
  readonly status: number;
}

function timeOf(r: LogRecord | undefined): number {
  const time = r?.['time'];
  if (typeof time !== 'string') throw new Error(`E2E_LOG_TIME: log line without a time: ${JSON.stringify(r)}`);
  return Date.parse(time);
}

describe('sterlet agent cold start on a large manifest set (netns, native XDP)', () => {
  let t: Topology;
  let agent: ManagedProcess;
  let poller: ManagedProcess;

  beforeAll(async () => {
    t = await Topology.create({ backends: 0 });
    const bpffs = await createBpffsDir(t);
    const manifests = join(t.scratch, 'manifests');
    await mkdir(manifests);
    writeManifestSet(manifests, VIPS);
    poller = t.processes.start([NODE_BIN, join(REPO_ROOT, 'test/support/e2e/healthz-poller.ts'), 'http://127.0.0.1:9464/healthz'], {
      name: 'healthz-poller',
      netns: t.lb.netns,
    });
    const runner = new AgentRunner(t, {
      manifests,
      bpffs: bpffs.path,
      gatewayMac: await t.gatewayMac(),
      extraArgs: ['--max-reals', String(VIPS * MANIFEST_BACKENDS), '--health-checks=false', '--flow-count-interval', '0'],
    });
    agent = runner.start();
  }, 120_000);

  afterAll(async () => {
    await t?.destroy();
  }, 60_000);

  it('answers /healthz while the first state is applied, and applies all of it', async () => {
    const applied = await waitForApplied(agent, 0, { timeoutMs: 240_000 });
    expect(applied['vips']).toBe(VIPS);
    expect(applied['changes']).toBeGreaterThan(VIPS * 65537);
    const applying = agent.output().map(parseLogLine).find((r) => r?.msg === 'applying' && r['reason'] === 'source');
    const from = timeOf(applying);
    const to = timeOf(applied);
    await poller.stop('SIGTERM');
    const answers = poller.output().map((l) => JSON.parse(l) as Answer);
    // Log times have millisecond resolution: "sent after" and "answered before" are strict by one ms.
    const during = answers.filter((a) => a.status === 200 && a.at > from && a.at + a.ms < to);
    expect(during.length, `applying ${String(from)}, applied ${String(to)}; last answers: ${JSON.stringify(answers.slice(-5))}`).toBeGreaterThan(0);
  }, 300_000);
});
