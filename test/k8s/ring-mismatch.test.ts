// ECMP consistency on a real kube-apiserver: two LoadBalancerNodes (written
// the way agents write them) report the VIP's current revision with
// different ring fingerprints. The real controller process says which node
// differs and for how long, keeps the condition's lastTransitionTime at the
// start of the mismatch while it refreshes the duration, exports the start
// time as a metric, and clears both once the rings agree.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../support/e2e/bgp.ts';
import { promlint } from '../support/promlint.ts';
import { createNamespace, deleteNamespace, kubectl, waitFor } from '../support/kube/index.ts';
import { spawnController } from '../support/kube/controller.ts';
import { installCrds } from '../support/kube/crds.ts';
import { applyObjects, backend, condition, deleteNodes, dropFinalizers, pool, randomVipNet, reportNode, vip, vipStatus, waitCondition } from '../support/kube/objects.ts';

const tag = `rm${process.pid}-${randomBytes(3).toString('hex')}`;
const labels = { 'sterlet.dev/test': tag };
const net = randomVipNet();
const poolName = `pool-${tag}`;
const nodeA = `a-${tag}`;
const nodeB = `b-${tag}`;
let ns = '';
let port = 0;
let child: ChildProcess | undefined;
let childLog = '';

async function mismatchMetric(): Promise<number | undefined> {
  const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = body.split('\n').find((l) => l.startsWith(`sterlet_controller_vip_ring_mismatch_start_time_seconds{namespace="${ns}",name="web"}`));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('ring');
  await applyObjects(undefined, [pool(poolName, {
    addresses: [`${net}.0/24`], backendAddresses: ['10.0.0.0/16'],
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
  })]);
  port = await freePort();
  child = spawnController({ leaseNamespace: ns, identity: `ring-${tag}`, metricsPort: port });
  child.stdout?.on('data', (b: Buffer) => { childLog += b.toString(); });
  child.stderr?.on('data', (b: Buffer) => { childLog += b.toString(); });
});

afterAll(async () => {
  if (ns !== '') await kubectl(['delete', 'virtualips', '--all', '-n', ns, '--wait=false'], { allowFail: true });
  await deleteNodes([nodeA, nodeB]);
  if (child !== undefined && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => child?.once('exit', r));
  }
  if (ns !== '') { await dropFinalizers(ns); await deleteNamespace(ns); }
  await kubectl(['delete', 'virtualippool', poolName, '--ignore-not-found'], { allowFail: true });
});

describe('ring fingerprint mismatch (controller process)', () => {
  it('says which node differs and for how long, and exports since when', async () => {
    await applyObjects(ns, [vip('web', { address: `${net}.10`, backendSelector: { matchLabels: { app: 'web' } }, nodeSelector: { matchLabels: labels } }), backend('web-1', '10.0.4.1', { app: 'web' })]);
    await waitCondition(ns, 'web', 'Accepted', { status: 'True' }, 30_000).catch((e: unknown) => { throw new Error(`${String(e)}\ncontroller log:\n${childLog.slice(-2000)}`); });
    const rev = (await waitFor(async () => (await vipStatus(ns, 'web')).compiled?.revision, { what: 'status.compiled.revision' }));
    await reportNode(nodeA, labels, [{ id: `${ns}/web`, revision: rev, ringFingerprint: 'aaaa' }]);
    await reportNode(nodeB, labels, [{ id: `${ns}/web`, revision: rev, ringFingerprint: 'bbbb' }]);
    const st = await waitCondition(ns, 'web', 'Programmed', { status: 'False', reason: 'RingMismatch' }, 20_000);
    const first = condition(st, 'Programmed')!;
    expect(first.message).toMatch(new RegExp(`^programmed on 2/2 nodes but their Maglev rings differ on 1/2 nodes for \\d+s \\(${nodeB} has fingerprint bbbb; ${nodeA} has aaaa\\)`));
    expect(condition(st, 'Stalled')).toMatchObject({ status: 'True', reason: 'RingMismatch' });
    const since = Date.parse(first.lastTransitionTime);
    expect(await waitFor(mismatchMetric, { what: 'the ring mismatch start metric' })).toBeCloseTo(since / 1000, 3);
    expect(promlint(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text())).toEqual({ code: 0, problems: [] });

    // Nothing else changes, yet the message keeps counting (the controller requeues it) from the same start.
    const refreshed = await waitFor(async () => {
      const c = condition(await vipStatus(ns, 'web'), 'Programmed');
      const seconds = Number(/for (\d+)s/.exec(c?.message ?? '')?.[1] ?? '0');
      return c?.reason === 'RingMismatch' && seconds >= 10 ? c : false;
    }, { what: 'the mismatch message counting 10 s or more', timeoutMs: 40_000, intervalMs: 500 });
    expect(refreshed.lastTransitionTime).toBe(first.lastTransitionTime);
    expect(await mismatchMetric()).toBeCloseTo(since / 1000, 3);
  });

  it('clears the condition and the metric once the rings agree', async () => {
    const rev = (await vipStatus(ns, 'web')).compiled?.revision ?? '';
    await reportNode(nodeB, labels, [{ id: `${ns}/web`, revision: rev, ringFingerprint: 'aaaa' }]);
    await waitCondition(ns, 'web', 'Programmed', { status: 'True', reason: 'AllNodesProgrammed' }, 20_000);
    await waitFor(async () => (await mismatchMetric()) === undefined, { what: 'the mismatch metric removed' });
  });
});
