// The finer pool rules on a real API server with the real controller process:
// namespaceSelector on labels (a label change admits or withdraws at once),
// and the optional ports and protocols a pool allows.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, deleteNamespace, kubectl } from '../support/kube/index.ts';
import { installCrds } from '../support/kube/crds.ts';
import { applyObjects, backend, condition, dropFinalizers, randomVipNet, vip, waitCondition } from '../support/kube/objects.ts';
import { type ControllerProcess, startControllerProcess } from '../support/tenancy/controller.ts';
import { createPool, deleteCreatedPools, SETTLE_MS } from '../support/tenancy/tenancy.ts';

const net = randomVipNet();
const tenantLabel = `tenancy-rules-${process.pid}`;
let ns = '';
let labelled = '';
let restricted = '';
let controller: ControllerProcess | undefined;

const vipFor = (name: string, address: string, extra: Record<string, unknown> = {}) => vip(name, {
  address, backendSelector: { matchLabels: { app: name } },
  nodeSelector: { matchLabels: { 'sterlet.dev/test': tenantLabel } }, ...extra,
});

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('tenancy-rules');
  // Selects namespaces by a label only cluster admins set (namespaces are cluster-scoped).
  labelled = await createPool('tenancy-labelled', {
    addresses: [`${net}.0/26`], backendAddresses: ['10.77.5.0/24'],
    namespaceSelector: { matchLabels: { 'sterlet.dev/tenant': tenantLabel } },
  });
  restricted = await createPool('tenancy-ports', {
    addresses: [`${net}.64/26`], backendAddresses: ['10.77.5.0/24'], ports: [443], protocols: ['TCP'],
    namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [ns] }] },
  });
  controller = await startControllerProcess('tenancy-rules');
});

afterAll(async () => {
  if (ns !== '') await kubectl(['delete', 'virtualips', '--all', '-n', ns, '--wait=false'], { allowFail: true });
  await new Promise((r) => setTimeout(r, 1000));
  await controller?.stop();
  await deleteCreatedPools();
  if (ns !== '') { await dropFinalizers(ns); await deleteNamespace(ns); }
});

describe('pool rules', () => {
  it('admits a namespace once it carries the selected label, and withdraws the VIP when the label goes', async () => {
    await applyObjects(ns, [vipFor('web', `${net}.10`), backend('web-1', '10.77.5.1', { app: 'web' })]);
    const before = await waitCondition(ns, 'web', 'Accepted', { status: 'False', reason: 'AddressNotAllowed' }, SETTLE_MS);
    expect(condition(before, 'Accepted')?.message).toContain(`${labelled}: namespace ${ns} not selected`);

    await kubectl(['label', 'namespace', ns, `sterlet.dev/tenant=${tenantLabel}`]);
    const admitted = await waitCondition(ns, 'web', 'Accepted', { status: 'True', message: new RegExp(`VirtualIPPool ${labelled}`) }, SETTLE_MS);
    expect(admitted.compiled?.backends.map((b) => b.address)).toEqual(['10.77.5.1']);

    await kubectl(['label', 'namespace', ns, 'sterlet.dev/tenant-']);
    const withdrawn = await waitCondition(ns, 'web', 'Accepted', { status: 'False', reason: 'AddressNotAllowed' }, SETTLE_MS);
    expect(withdrawn.compiled).toBeUndefined();
    expect(condition(withdrawn, 'Programmed')).toMatchObject({ status: 'False', reason: 'Withdrawn' });
  });

  it('admits only the ports and protocols a pool allows', async () => {
    await applyObjects(ns, [
      vipFor('tls', `${net}.70`, { port: 443 }), backend('tls-1', '10.77.5.2', { app: 'tls' }),
      vipFor('plain', `${net}.71`, { port: 80 }), backend('plain-1', '10.77.5.3', { app: 'plain' }),
      vipFor('dns', `${net}.72`, { port: 443, protocol: 'UDP' }), backend('dns-1', '10.77.5.4', { app: 'dns' }),
    ]);
    await waitCondition(ns, 'tls', 'Accepted', { status: 'True', message: new RegExp(`VirtualIPPool ${restricted}`) }, SETTLE_MS);
    const plain = await waitCondition(ns, 'plain', 'Accepted', { status: 'False', reason: 'AddressNotAllowed' }, SETTLE_MS);
    expect(condition(plain, 'Accepted')?.message).toContain(`${restricted}: port 80 not in 443`);
    const dns = await waitCondition(ns, 'dns', 'Accepted', { status: 'False', reason: 'AddressNotAllowed' }, SETTLE_MS);
    expect(condition(dns, 'Accepted')?.message).toContain(`${restricted}: protocol UDP not in TCP`);
  });
});
