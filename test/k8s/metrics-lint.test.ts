// `promtool check metrics` on a real scrape of the real controller process
// after it reconciled a VirtualIP against the real API server.
import type { ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promlint } from '../support/promlint.ts';
import { createNamespace, deleteNamespace, kubectl, waitFor } from '../support/kube/index.ts';
import { spawnController } from '../support/kube/controller.ts';
import { installCrds } from '../support/kube/crds.ts';
import { applyObjects, backend, dropFinalizers, pool, randomVipNet, vip, waitCondition } from '../support/kube/objects.ts';

let ns = '';
const net = randomVipNet();
const poolName = `pool-metrics-${process.pid}`;
let child: ChildProcess | undefined;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('metrics');
  await applyObjects(undefined, [pool(poolName, {
    addresses: [`${net}.0/24`], backendAddresses: ['10.0.0.0/16'],
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
  })]);
});

afterAll(async () => {
  if (child !== undefined && child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => child?.once('exit', r));
  }
  if (ns !== '') { await dropFinalizers(ns); await deleteNamespace(ns); }
  await kubectl(['delete', 'virtualippool', poolName, '--ignore-not-found'], { allowFail: true });
});

describe('controller metrics', () => {
  it('a scrape after reconciling passes promtool check metrics', async () => {
    const port = await freePort();
    child = spawnController({ leaseNamespace: ns, identity: `metrics-${process.pid}`, metricsPort: port });
    await applyObjects(ns, [vip('web', { address: `${net}.1`, backendSelector: { matchLabels: { app: 'web' } } }), backend('web-1', '10.0.3.1', { app: 'web' })]);
    await waitCondition(ns, 'web', 'Accepted', { status: 'True' }, 20_000);
    const text = await waitFor(async () => {
      const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      return /sterlet_controller_reconcile_total\{[^}]*kind="VirtualIP"/.test(body) ? body : false;
    }, { timeoutMs: 20_000, what: 'a VirtualIP reconcile in the metrics' });
    expect(text).toContain('sterlet_controller_leader 1');
    expect(text).toContain(`sterlet_controller_vip_nodes{namespace="${ns}",name="web",state="selected"}`);
    expect(text).toContain('sterlet_controller_process_resident_memory_bytes');
    expect(promlint(text)).toEqual({ code: 0, problems: [] });
  });
});
