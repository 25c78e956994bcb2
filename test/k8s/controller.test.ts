// The controller against a real kube-apiserver: conditions, status.compiled,
// conflicts, pools, Backend status, Events and the deletion finalizer. Nodes
// here are LoadBalancerNode objects whose status the test writes the way an
// agent does, to check the controller's arithmetic; the real agent is
// exercised in agent.test.ts.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Resources } from '../../src/kube/client.ts';
import { createNamespace, deleteNamespace, getJson, kubectl, waitFor } from '../support/kube/index.ts';
import { type InProcessController, startController } from '../support/kube/controller.ts';
import { installCrds } from '../support/kube/crds.ts';
import {
  applyObjects, backend, client, condition, deleteNodes, dropFinalizers, pool, randomVipNet, reportNode, vip, vipStatus, waitCondition,
} from '../support/kube/objects.ts';

const tag = `c${process.pid}-${randomBytes(3).toString('hex')}`;
/** VIPs here select only nodes with this label, so other tests' nodes never count. */
const nodeLabels = { 'sterlet.dev/test': tag };
const nodeSelector = { matchLabels: nodeLabels };
const net = randomVipNet();
const poolName = `pool-${tag}`;
const nodes = [`n1-${tag}`, `n2-${tag}`, `stale-${tag}`];
let ns = '';
let other = '';
let controller: InProcessController | undefined;

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('ctl');
  other = await createNamespace('ctl-other');
  await applyObjects(undefined, [pool(poolName, {
    addresses: [`${net}.0/24`],
    backendAddresses: ['10.0.0.0/16'],
    namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [ns, other] }] },
  })]);
  controller = startController({ leaseNamespace: ns, heartbeatTimeoutSeconds: 20 });
});

afterAll(async () => {
  for (const n of [ns, other]) if (n !== '') await kubectl(['delete', 'virtualips', '--all', '-n', n, '--wait=false'], { allowFail: true });
  await deleteNodes(nodes);
  // The controller removes the finalizers of the deleted VIPs; give it a moment, then force.
  await new Promise((r) => setTimeout(r, 1000));
  await controller?.stop();
  for (const n of [ns, other]) if (n !== '') { await dropFinalizers(n); await deleteNamespace(n); }
  await kubectl(['delete', 'virtualippool', poolName, '--ignore-not-found'], { allowFail: true });
});

const web = [1, 2, 3].map((i) => backend(`web-${i}`, `10.0.1.${i}`, { app: 'web' }));

describe('controller', () => {
  it('accepts a VIP, resolves its backends and publishes status.compiled', async () => {
    await applyObjects(ns, [vip('web', { address: `${net}.10`, backendSelector: { matchLabels: { app: 'web' } }, nodeSelector }), ...web]);
    const st = await waitCondition(ns, 'web', 'ResolvedRefs', { status: 'True', message: '3 backends selected, 3 with weight > 0' });
    expect(condition(st, 'Accepted')).toMatchObject({ status: 'True', reason: 'Valid' });
    expect(condition(st, 'Accepted')?.message).toContain(poolName);
    expect(st.observedGeneration).toBe(1);
    expect(st.compiled?.backends.map((b) => b.address)).toEqual(['10.0.1.1', '10.0.1.2', '10.0.1.3']);
    expect(st.compiled?.revision).toMatch(/^[0-9a-f]{16}$/);
    // No node matches yet: honest about it, and kstatus says why it is not Ready.
    expect(condition(st, 'Programmed')).toMatchObject({ status: 'False', reason: 'NoNodes' });
    expect(condition(st, 'Ready')?.status).toBe('False');
    // The finalizer is added by its own queue right after the status write (one write on the sync path).
    await waitFor(async () => (await vipStatus(ns, 'web')).finalizers.includes('sterlet.dev/dataplane'), { what: 'the dataplane finalizer', timeoutMs: 15_000 });
  });

  it('is Programmed and Ready when every selected node reports the revision with one ring', async () => {
    const rev = (await vipStatus(ns, 'web')).compiled?.revision ?? '';
    await reportNode(nodes[0] ?? '', nodeLabels, [{ id: `${ns}/web`, revision: rev, ringFingerprint: 'aaaa' }]);
    await reportNode(nodes[1] ?? '', nodeLabels, [{ id: `${ns}/web`, revision: 'ffffffffffffffff', ringFingerprint: 'aaaa' }]);
    await waitCondition(ns, 'web', 'Programmed', { status: 'False', reason: 'Pending', message: /programmed on 1\/2 nodes/ });
    expect(condition(await vipStatus(ns, 'web'), 'Reconciling')?.status).toBe('True');
    await reportNode(nodes[1] ?? '', nodeLabels, [{ id: `${ns}/web`, revision: rev, ringFingerprint: 'bbbb' }]);
    await waitCondition(ns, 'web', 'Programmed', { status: 'False', reason: 'RingMismatch' });
    await reportNode(nodes[1] ?? '', nodeLabels, [{ id: `${ns}/web`, revision: rev, ringFingerprint: 'aaaa' }]);
    const st = await waitCondition(ns, 'web', 'Programmed', { status: 'True', message: 'programmed on 2/2 nodes' });
    expect(st.nodes).toBe('2/2');
    const wait = await kubectl(['wait', '-n', ns, '--for=condition=Ready', 'vip/web', '--timeout=10s']);
    expect(wait.stdout).toContain('condition met');
    const printed = (await kubectl(['get', 'vip', 'web', '-n', ns])).stdout;
    expect(printed).toMatch(/True\s+2\/2/);
  });

  it('ignores a node without a heartbeat', async () => {
    const rev = (await vipStatus(ns, 'web')).compiled?.revision ?? '';
    await reportNode(nodes[2] ?? '', nodeLabels, [{ id: `${ns}/web`, revision: 'eeeeeeeeeeeeeeee' }], new Date(Date.now() - 3_600_000).toISOString());
    const st = await waitCondition(ns, 'web', 'Programmed', { status: 'True', message: /not counted \(no heartbeat\): stale-/ });
    expect(st.compiled?.revision).toBe(rev);
  });

  it('publishes scaling 3 -> 5 backends in status.compiled within 2 s', async () => {
    const started = Date.now();
    await applyObjects(ns, [backend('web-4', '10.0.1.4', { app: 'web' }), backend('web-5', '10.0.1.5', { app: 'web' })]);
    await waitFor(async () => (await vipStatus(ns, 'web')).compiled?.backends.length === 5, { what: '5 backends compiled', timeoutMs: 2_000, intervalMs: 20 });
    const elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(2_000);
    // The nodes still run the old revision: Programmed drops until they catch up.
    await waitCondition(ns, 'web', 'Programmed', { status: 'False', reason: 'Pending' });
  });

  it('changes the revision on a weight change and counts drained backends', async () => {
    const before = (await vipStatus(ns, 'web')).compiled?.revision;
    await kubectl(['patch', 'backend', 'web-5', '-n', ns, '--type=merge', '-p', '{"spec":{"weight":0}}']);
    const st = await waitCondition(ns, 'web', 'ResolvedRefs', { message: '5 backends selected, 4 with weight > 0' });
    expect(st.compiled?.revision).not.toBe(before);
    expect(st.activeBackends).toBe(4);
    expect(st.compiled?.backends.find((b) => b.name === 'web-5')?.weight).toBe(0);
  });

  it('lists the VIPs using a Backend in its status', async () => {
    await waitFor(async () => {
      const be = await client().get(Resources.backend, 'web-1', ns);
      const used = (be['status'] as { usedBy?: string[] } | undefined)?.usedBy;
      return used !== undefined && used.includes('web');
    }, { what: 'Backend web-1 status.usedBy [web]', timeoutMs: 10_000 });
  });

  it('gives Conflict to the newer of two VIPs claiming one address, across namespaces too', async () => {
    await applyObjects(ns, [vip('web-dup', { address: `${net}.10`, backendSelector: { matchLabels: { app: 'web' } }, nodeSelector })]);
    const st = await waitCondition(ns, 'web-dup', 'Accepted', { status: 'False', reason: 'Conflict' });
    expect(condition(st, 'Accepted')?.message).toContain(`${ns}/web`);
    expect(condition(st, 'Stalled')?.status).toBe('True');
    expect(st.compiled).toBeUndefined();
    await applyObjects(other, [vip('web', { address: `${net}.10`, backendSelector: { matchLabels: { app: 'web' } } }), ...web]);
    await waitCondition(other, 'web', 'Accepted', { status: 'False', reason: 'Conflict' });
    expect(condition(await vipStatus(ns, 'web'), 'Accepted')?.status).toBe('True');
    const events = await getJson<{ items: { reason: string; regarding: { name: string } }[] }>(['events.v1.events.k8s.io', '-n', ns]);
    expect(events.items.some((e) => e.reason === 'NotAccepted' && e.regarding.name === 'web-dup')).toBe(true);
    await kubectl(['delete', 'vip', 'web-dup', '-n', ns]);
    await kubectl(['delete', 'vip', 'web', '-n', other]);
  });

  it('hands the address to the newer VIP once the older one is deleted', async () => {
    // creationTimestamp has 1 s resolution (ties go to namespace/name order):
    // the younger VIP is created in a later second, and sorts first by name, so
    // only its age can make it lose.
    await applyObjects(ns, [vip('older', { address: `${net}.20`, backendSelector: { matchLabels: { app: 'web' } }, nodeSelector })]);
    await waitCondition(ns, 'older', 'Accepted', { status: 'True' });
    await new Promise((r) => setTimeout(r, 1100));
    await applyObjects(ns, [vip('a-younger', { address: `${net}.20`, backendSelector: { matchLabels: { app: 'web' } }, nodeSelector })]);
    await waitCondition(ns, 'a-younger', 'Accepted', { status: 'False', reason: 'Conflict' });
    expect(condition(await vipStatus(ns, 'older'), 'Accepted')?.status).toBe('True');
    await kubectl(['delete', 'vip', 'older', '-n', ns]);
    await waitCondition(ns, 'a-younger', 'Accepted', { status: 'True' });
    await kubectl(['delete', 'vip', 'a-younger', '-n', ns]);
  });

  it('refuses an address outside every pool and excludes backends outside the pool', async () => {
    await applyObjects(ns, [
      vip('outside', { address: '192.0.2.99', backendSelector: { matchLabels: { app: 'web' } } }),
      vip('mixed', { address: `${net}.30`, backendSelector: { matchLabels: { app: 'mixed' } }, nodeSelector }),
      backend('in', '10.0.2.1', { app: 'mixed' }),
      backend('far', '172.16.0.1', { app: 'mixed' }),
    ]);
    const out = await waitCondition(ns, 'outside', 'Accepted', { status: 'False', reason: 'AddressNotAllowed' });
    expect(condition(out, 'Accepted')?.message).toContain(poolName);
    expect(out.compiled).toBeUndefined();
    const mixed = await waitCondition(ns, 'mixed', 'ResolvedRefs', { status: 'False', reason: 'BackendNotAllowed' });
    expect(condition(mixed, 'ResolvedRefs')?.message).toMatch(/1 backends selected.*172\.16\.0\.1/);
    expect(mixed.compiled?.backends.map((b) => b.address)).toEqual(['10.0.2.1']);
    await waitFor(async () => {
      const be = await client().get(Resources.backend, 'far', ns);
      const c = (be['status'] as { conditions?: { type: string; status: string; reason: string }[] } | undefined)?.conditions?.find((x) => x.type === 'Accepted');
      return c?.status === 'False' && c.reason === 'BackendNotAllowed';
    }, { what: 'Backend far Accepted=False BackendNotAllowed', timeoutMs: 10_000 });
  });

  it('withdraws a VIP whose pool stops admitting it', async () => {
    await kubectl(['patch', 'virtualippool', poolName, '--type=merge', '-p', JSON.stringify({ spec: { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [other] }] } } })]);
    const st = await waitCondition(ns, 'mixed', 'Accepted', { status: 'False', reason: 'AddressNotAllowed' });
    expect(st.compiled).toBeUndefined();
    expect(condition(st, 'Accepted')?.message).toContain(`namespace ${ns} not selected`);
    await kubectl(['patch', 'virtualippool', poolName, '--type=merge', '-p', JSON.stringify({ spec: { namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [ns, other] }] } } })]);
    await waitCondition(ns, 'mixed', 'Accepted', { status: 'True' });
  });

  it('keeps a deleted VIP until no live node serves it, then removes the finalizer', async () => {
    const rev = (await vipStatus(ns, 'web')).compiled?.revision ?? '';
    await reportNode(nodes[0] ?? '', nodeLabels, [{ id: `${ns}/web`, revision: rev, ringFingerprint: 'aaaa' }]);
    await reportNode(nodes[1] ?? '', nodeLabels, []);
    await kubectl(['delete', 'vip', 'web', '-n', ns, '--wait=false']);
    const st = await waitCondition(ns, 'web', 'Ready', { status: 'False', reason: 'Deleting' });
    expect(st.compiled).toBeUndefined();
    await new Promise((r) => setTimeout(r, 1500));
    expect((await vipStatus(ns, 'web')).exists).toBe(true); // n1 still reports it
    await reportNode(nodes[0] ?? '', nodeLabels, []); // n1's agent withdrew it
    // The stale node still lists it but has no heartbeat: it does not block.
    await waitFor(async () => !(await vipStatus(ns, 'web')).exists, { what: 'VirtualIP web deleted', timeoutMs: 10_000 });
  });
});
