// Per-pool BGP attributes on a real kube-apiserver: the CRD refuses a bad
// community naming the field; the controller compiles the admitting pool's
// communities and local preference into each VIP's status.compiled (what
// agents announce from), the VIP's own fields win, and editing the pool
// reaches every VIP it admits.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apply, createNamespace, deleteNamespace, kubectl, waitFor } from '../support/kube/index.ts';
import { type InProcessController, startController } from '../support/kube/controller.ts';
import { installCrds } from '../support/kube/crds.ts';
import { applyObjects, backend, dropFinalizers, pool, randomVipNet, vip, vipStatus } from '../support/kube/objects.ts';

const tag = `pa${process.pid}-${randomBytes(3).toString('hex')}`;
const net = randomVipNet();
const poolName = `pool-${tag}`;
let ns = '';
let controller: InProcessController | undefined;

function poolSpec(announcement: Record<string, unknown>): Record<string, unknown> {
  return { addresses: [`${net}.0/24`], backendAddresses: ['10.0.0.0/16'], namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } }, announcement };
}

async function compiledAnnouncement(name: string): Promise<unknown> {
  return ((await vipStatus(ns, name)).compiled as { announcement?: unknown } | undefined)?.announcement;
}

function waitAnnouncement(name: string, want: unknown): Promise<unknown> {
  let last: unknown;
  return waitFor(async () => { last = await compiledAnnouncement(name); return JSON.stringify(last) === JSON.stringify(want) ? last : false; }, { what: `${name} status.compiled.announcement ${JSON.stringify(want)}`, timeoutMs: 20_000 })
    .catch((err: unknown) => { throw new Error(`${String(err)}; last: ${JSON.stringify(last)}`); });
}

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('pool-bgp');
  controller = startController({ leaseNamespace: ns });
});

afterAll(async () => {
  if (ns !== '') await kubectl(['delete', 'virtualips', '--all', '-n', ns, '--wait=false'], { allowFail: true });
  await new Promise((r) => setTimeout(r, 500));
  await controller?.stop();
  if (ns !== '') { await dropFinalizers(ns); await deleteNamespace(ns); }
  await kubectl(['delete', 'virtualippool', poolName, '--ignore-not-found'], { allowFail: true });
});

describe('VirtualIPPool spec.announcement', () => {
  it('is refused by the API server with a bad community, naming the field', async () => {
    const bad = pool(`bad-${tag}`, poolSpec({ communities: ['65001:70000'] }));
    const result = await apply(JSON.stringify(bad), [], { allowFail: true });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/spec\.announcement\.communities\[0\]/);
  });

  it('is compiled into every admitted VIP, the VIP\'s own fields overriding, and follows pool edits', async () => {
    await applyObjects(undefined, [pool(poolName, poolSpec({ communities: ['65001:100'], localPreference: 150 }))]);
    await applyObjects(ns, [
      vip('web', { address: `${net}.10`, backendSelector: { matchLabels: { app: 'web' } } }),
      vip('api', { address: `${net}.11`, backendSelector: { matchLabels: { app: 'web' } }, announcement: { localPreference: 300 } }),
      backend('web-1', '10.0.5.1', { app: 'web' }),
    ]);
    await waitAnnouncement('web', { communities: ['65001:100'], localPreference: 150 });
    await waitAnnouncement('api', { communities: ['65001:100'], localPreference: 300 });
    const before = (await vipStatus(ns, 'web')).compiled?.revision;
    // The pool drops its localPreference: the VIP's compiled state must lose it too.
    await applyObjects(undefined, [pool(poolName, poolSpec({ communities: ['65001:200', '65001:201'] }))]);
    await waitAnnouncement('web', { communities: ['65001:200', '65001:201'] });
    await waitAnnouncement('api', { communities: ['65001:200', '65001:201'], localPreference: 300 });
    // A new revision: agents re-announce the route with the new attributes.
    expect((await vipStatus(ns, 'web')).compiled?.revision).not.toBe(before);
  });
});
