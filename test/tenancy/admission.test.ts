// Pool admission on a real API server with the real controller process
// (`sterlet controller --leader-elect=false`): which namespace may claim which
// VIP and send to which backends, what the status says when it may not, and
// how the documented Argo CD health check reads that status.
//
// The cluster is shared with other test files, so every pool selects only
// this file's namespaces and uses a random /24 (other files' pools never
// admit these VIPs), and pools are deleted in afterAll whatever happened.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNamespace, deleteNamespace, getJson, kubectl, waitFor } from '../support/kube/index.ts';
import { installCrds } from '../support/kube/crds.ts';
import {
  applyObjects, backend, condition, deleteNodes, dropFinalizers, randomVipNet, reportNode, vip, vipStatus, waitCondition,
} from '../support/kube/objects.ts';
import { type ControllerProcess, startControllerProcess } from '../support/tenancy/controller.ts';
import { argoHealth, createPool, deleteCreatedPools, onlyNamespaces, updatePool, vipEvents, vipJson, SETTLE_MS } from '../support/tenancy/tenancy.ts';

const net = randomVipNet();
const outside = randomVipNet();
/** Backend ranges of the main pool; 10.99.0.0/16 is outside every pool here. */
const BACKENDS_OK = '10.77.1.0/28';
let nsA = '';
let nsB = '';
let nsC = '';
let wide = '';
let narrow = '';
let controller: ControllerProcess | undefined;
let unreconciled: Record<string, unknown> | undefined;
const fakeNode = `tenancy-node-${process.pid}-${Math.random().toString(16).slice(2, 8)}`;
const nodeTag = fakeNode;

const webBackends = (prefix: string, addresses: readonly string[]) =>
  addresses.map((a, i) => backend(`${prefix}-${i + 1}`, a, { app: prefix }));
const vipFor = (name: string, address: string, extra: Record<string, unknown> = {}) =>
  vip(name, { address, backendSelector: { matchLabels: { app: name } }, nodeSelector: { matchLabels: { 'sterlet.dev/test': nodeTag } }, ...extra });

beforeAll(async () => {
  await installCrds();
  // Namespace names sort a < b < c; the conflict test relies on age, not on names.
  nsA = await createNamespace('tenancy-a');
  nsB = await createNamespace('tenancy-b');
  nsC = await createNamespace('tenancy-c');
  wide = await createPool('tenancy-wide', {
    addresses: [`${net}.0/25`], backendAddresses: [BACKENDS_OK], namespaceSelector: onlyNamespaces(nsA, nsB),
  });
  narrow = await createPool('tenancy-narrow', {
    addresses: [`${net}.128/25`], backendAddresses: [BACKENDS_OK], namespaceSelector: onlyNamespaces(nsA),
  });
  // The object as a GitOps tool sees it right after `kubectl apply`, before any controller wrote status.
  await applyObjects(nsA, [vipFor('fresh', `${net}.99`)]);
  unreconciled = await vipJson(nsA, 'fresh');
  controller = await startControllerProcess('tenancy-admission');
});

afterAll(async () => {
  for (const ns of [nsA, nsB, nsC]) if (ns !== '') await kubectl(['delete', 'virtualips', '--all', '-n', ns, '--wait=false'], { allowFail: true });
  await deleteNodes([fakeNode]);
  await new Promise((r) => setTimeout(r, 1000)); // the controller releases the finalizers of deleted VIPs
  await controller?.stop();
  await deleteCreatedPools();
  for (const ns of [nsA, nsB, nsC]) if (ns !== '') { await dropFinalizers(ns); await deleteNamespace(ns); }
});

describe('VirtualIPPool admission (real API server, real controller process)', () => {
  it('accepts a VIP a pool admits and publishes its compiled state', async () => {
    await applyObjects(nsA, [vipFor('web', `${net}.10`), ...webBackends('web', ['10.77.1.1', '10.77.1.2'])]);
    // The Backends may reach the controller's cache after the VIP: until then it is accepted without
    // backends, and the message does not name the pool (see the report), so wait for the settled message.
    await waitCondition(nsA, 'web', 'Accepted', { status: 'True', message: new RegExp(`admitted by VirtualIPPool ${wide}`) }, SETTLE_MS);
    await waitCondition(nsA, 'web', 'ResolvedRefs', { status: 'True', message: '2 backends selected, 2 with weight > 0' }, SETTLE_MS);
    const after = await vipStatus(nsA, 'web');
    expect(after.compiled?.backends.map((b) => b.address).sort()).toEqual(['10.77.1.1', '10.77.1.2']);
  });

  it('rejects a VIP outside every pool with AddressNotAllowed naming the address and the pools considered', async () => {
    const address = `${outside}.7`;
    await applyObjects(nsA, [vipFor('stray', address), ...webBackends('stray', ['10.77.1.3'])]);
    const st = await waitCondition(nsA, 'stray', 'Accepted', { status: 'False', reason: 'AddressNotAllowed' }, SETTLE_MS);
    const message = condition(st, 'Accepted')?.message ?? '';
    expect(message).toContain(address);
    expect(message).toContain(`${wide}: ${address} outside ${net}.0/25`);
    expect(message).toContain(`${narrow}: ${address} outside ${net}.128/25`);
    // Nothing of it reaches any agent.
    expect(st.compiled).toBeUndefined();
    expect(condition(st, 'Programmed')).toMatchObject({ status: 'False', reason: 'Withdrawn' });
    expect(condition(st, 'Ready')).toMatchObject({ status: 'False', reason: 'AddressNotAllowed' });
    expect(condition(st, 'Stalled')).toMatchObject({ status: 'True', reason: 'AddressNotAllowed' });
    const events = await waitFor(async () => {
      const list = await vipEvents(nsA, 'stray');
      return list.some((e) => e.reason === 'NotAccepted') ? list : false;
    }, { what: 'a NotAccepted event about stray', timeoutMs: SETTLE_MS });
    expect(events.find((e) => e.reason === 'NotAccepted')).toMatchObject({ type: 'Warning' });
  });

  it('excludes and reports a Backend outside the pool backend ranges and serves the rest', async () => {
    await applyObjects(nsA, [vipFor('mixed', `${net}.11`), ...webBackends('mixed', ['10.77.1.4', '10.77.1.5', '10.99.0.5'])]);
    const st = await waitCondition(nsA, 'mixed', 'ResolvedRefs', { status: 'False', reason: 'BackendNotAllowed' }, SETTLE_MS);
    expect(condition(st, 'Accepted')).toMatchObject({ status: 'True' });
    const message = condition(st, 'ResolvedRefs')?.message ?? '';
    expect(message).toContain('2 backends selected');
    expect(message).toContain('mixed-3 (10.99.0.5)');
    expect(message).toContain(wide);
    expect(st.compiled?.backends.map((b) => b.address).sort()).toEqual(['10.77.1.4', '10.77.1.5']);
    // The excluded Backend says so in its own status too.
    await waitFor(async () => {
      const be = await kubectl(['get', 'backend', 'mixed-3', '-n', nsA, '-o', 'jsonpath={.status.conditions[?(@.type=="Accepted")].reason}']);
      return be.stdout === 'BackendNotAllowed';
    }, { what: 'Backend mixed-3 Accepted=False BackendNotAllowed', timeoutMs: SETTLE_MS });
    await waitFor(async () => (await vipEvents(nsA, 'mixed')).some((e) => e.reason === 'BackendsExcluded' && e.note.includes('10.99.0.5')),
      { what: 'a BackendsExcluded event naming 10.99.0.5', timeoutMs: SETTLE_MS });
  });

  it('rejects a VIP from a namespace the pool does not select', async () => {
    // nsC is selected by no pool; nsB by the wide pool only, not by the narrow one.
    await applyObjects(nsC, [vipFor('web', `${net}.12`), ...webBackends('web', ['10.77.1.6'])]);
    const c = await waitCondition(nsC, 'web', 'Accepted', { status: 'False', reason: 'AddressNotAllowed' }, SETTLE_MS);
    expect(condition(c, 'Accepted')?.message).toContain(`${wide}: namespace ${nsC} not selected`);
    expect(condition(c, 'Accepted')?.message).toContain(`${narrow}: namespace ${nsC} not selected`);
    expect(c.compiled).toBeUndefined();

    await applyObjects(nsB, [vipFor('web', `${net}.130`), ...webBackends('web', ['10.77.1.7'])]);
    const b = await waitCondition(nsB, 'web', 'Accepted', { status: 'False', reason: 'AddressNotAllowed' }, SETTLE_MS);
    expect(condition(b, 'Accepted')?.message).toContain(`${narrow}: namespace ${nsB} not selected`);
    expect(condition(b, 'Accepted')?.message).toContain(`${wide}: ${net}.130 outside ${net}.0/25`);
  });

  it('resolves a cross-namespace claim of one address for the older VIP and hands it over when that one goes', async () => {
    const address = `${net}.20`;
    // The older claim is in nsB, which sorts after nsA: age decides, not names.
    await applyObjects(nsB, [vipFor('shared', address), ...webBackends('shared', ['10.77.1.8'])]);
    await waitCondition(nsB, 'shared', 'Accepted', { status: 'True' }, SETTLE_MS);
    await new Promise((r) => setTimeout(r, 1100)); // creationTimestamp has second resolution
    await applyObjects(nsA, [vipFor('shared', address), ...webBackends('shared', ['10.77.1.9'])]);
    const later = await waitCondition(nsA, 'shared', 'Accepted', { status: 'False', reason: 'Conflict' }, SETTLE_MS);
    expect(condition(later, 'Accepted')?.message).toContain(`already claimed by the older VirtualIP ${nsB}/shared`);
    expect(later.compiled).toBeUndefined();
    const older = await vipStatus(nsB, 'shared');
    expect(condition(older, 'Accepted')?.status).toBe('True');
    expect(older.compiled?.backends.map((x) => x.address)).toEqual(['10.77.1.8']);

    // A claim no pool admits blocks nobody: nsC's older VIP on .12 (rejected above) does not hold the address.
    await applyObjects(nsA, [vipFor('late', `${net}.12`), ...webBackends('late', ['10.77.1.12'])]);
    await waitCondition(nsA, 'late', 'Accepted', { status: 'True' }, SETTLE_MS);

    await kubectl(['delete', 'vip', 'shared', '-n', nsB, '--timeout=30s']);
    const now = await waitCondition(nsA, 'shared', 'Accepted', { status: 'True' }, SETTLE_MS);
    expect(now.compiled?.backends.map((x) => x.address)).toEqual(['10.77.1.9']);
  });

  it('resolves overlapping pools deterministically: the longest matching range wins and its backend ranges apply', async () => {
    // Inside the wide pool's /25, a /28 for nsA only with its own backend range.
    const specific = await createPool('tenancy-specific', {
      addresses: [`${net}.48/28`], backendAddresses: ['10.77.4.0/24'], namespaceSelector: onlyNamespaces(nsA),
    });
    await applyObjects(nsA, [vipFor('overlap', `${net}.50`), ...webBackends('overlap', ['10.77.4.1', '10.77.1.13'])]);
    // Backends may reach the controller after the VIP: wait until both are resolved, then check the admitting pool.
    const refs = await waitCondition(nsA, 'overlap', 'ResolvedRefs', { reason: 'BackendNotAllowed' }, SETTLE_MS);
    expect(condition(refs, 'ResolvedRefs')?.message).toContain(`overlap-2 (10.77.1.13) is outside the backend ranges of VirtualIPPool ${specific}`);
    const st = await waitCondition(nsA, 'overlap', 'Accepted', { status: 'True', message: new RegExp(`VirtualIPPool ${specific}`) }, SETTLE_MS);
    expect(st.compiled?.backends.map((b) => b.address)).toEqual(['10.77.4.1']);
    // nsB is not selected by the /28, so the same range falls back to the wide pool.
    await applyObjects(nsB, [vipFor('overlap', `${net}.51`), ...webBackends('overlap', ['10.77.1.14'])]);
    await waitCondition(nsB, 'overlap', 'Accepted', { status: 'True', message: new RegExp(`VirtualIPPool ${wide}`) }, SETTLE_MS);
  });

  it('reports on each pool how many VirtualIPs it admits and which pools overlap it', async () => {
    await waitCondition(nsA, 'web', 'Accepted', { status: 'True' }, SETTLE_MS);
    type PoolJson = { metadata: { generation: number }; status?: { observedGeneration?: number; virtualIPs?: number; conditions?: { type: string; status: string; message: string }[] } };
    const status = await waitFor(async () => {
      const p = await getJson<PoolJson>(['virtualippool', wide]);
      return p.status?.observedGeneration === p.metadata.generation ? p.status : false;
    }, { what: `VirtualIPPool ${wide} status`, timeoutMs: 20_000 });
    expect(status.virtualIPs).toBeGreaterThan(0);
    expect(status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True' });
    // The /28 pool of the previous test lies inside the wide pool's /25.
    const overlap = status.conditions?.find((c) => c.type === 'Overlapping');
    expect(overlap).toMatchObject({ status: 'True' });
    expect(overlap?.message).toContain('tenancy-specific');
    // The narrow pool admits nothing of this file (nsB's .130 was refused).
    const narrowStatus = await waitFor(async () => {
      const p = await getJson<PoolJson>(['virtualippool', narrow]);
      return p.status?.virtualIPs !== undefined ? p.status : false;
    }, { what: `VirtualIPPool ${narrow} status`, timeoutMs: 20_000 });
    expect(narrowStatus.virtualIPs).toBe(0);
  });

  it('names the admitting pool of a VIP that has no Backends yet', async () => {
    const st = await waitCondition(nsA, 'fresh', 'Accepted', { status: 'True' }, SETTLE_MS);
    expect(condition(st, 'Accepted')?.message).toContain(`admitted by VirtualIPPool ${wide}`);
  });

  it('re-evaluates VIPs when a pool changes or goes away', async () => {
    const own = await createPool('tenancy-own', {
      addresses: [`${net}.200/30`], backendAddresses: [BACKENDS_OK], namespaceSelector: onlyNamespaces(nsC),
    });
    await applyObjects(nsC, [vipFor('later', `${net}.201`), ...webBackends('later', ['10.77.1.10'])]);
    await waitCondition(nsC, 'later', 'Accepted', { status: 'True', message: new RegExp(own) }, SETTLE_MS);
    // Narrowed so it no longer covers the VIP: withdrawn (no compiled state) with a reason.
    await updatePool(own, { addresses: [`${net}.204/30`], backendAddresses: [BACKENDS_OK], namespaceSelector: onlyNamespaces(nsC) });
    const narrowed = await waitCondition(nsC, 'later', 'Accepted', { status: 'False', reason: 'AddressNotAllowed' }, SETTLE_MS);
    expect(narrowed.compiled).toBeUndefined();
    expect(condition(narrowed, 'Accepted')?.message).toContain(`${own}: ${net}.201 outside ${net}.204/30`);
    // Widened again, then deleted.
    await updatePool(own, { addresses: [`${net}.200/30`], backendAddresses: [BACKENDS_OK], namespaceSelector: onlyNamespaces(nsC) });
    await waitCondition(nsC, 'later', 'Accepted', { status: 'True' }, SETTLE_MS);
    await kubectl(['delete', 'virtualippool', own]);
    const gone = await waitCondition(nsC, 'later', 'Accepted', { status: 'False', reason: 'AddressNotAllowed' }, SETTLE_MS);
    expect(condition(gone, 'Accepted')?.message).not.toContain(own);
    expect(gone.compiled).toBeUndefined();
  });
});

describe('Argo CD health check from docs/gitops.md on the real objects', () => {
  it('is Progressing before the controller wrote any status', async () => {
    expect(unreconciled).toBeDefined();
    expect(unreconciled?.['status']).toBeUndefined();
    expect((await argoHealth(unreconciled)).status).toBe('Progressing');
  });

  it('is Degraded for a VIP no pool admits, with the controller message', async () => {
    await waitCondition(nsA, 'stray', 'Stalled', { status: 'True' }, SETTLE_MS);
    const health = await argoHealth(await vipJson(nsA, 'stray'));
    expect(health.status).toBe('Degraded');
    expect(health.message).toMatch(/^AddressNotAllowed: .*no VirtualIPPool admits it/);
  });

  it('is Degraded for the later VIP of a conflict', async () => {
    await applyObjects(nsB, [vipFor('dup', `${net}.10`), ...webBackends('dup', ['10.77.1.11'])]);
    await waitCondition(nsB, 'dup', 'Accepted', { reason: 'Conflict' }, SETTLE_MS);
    const health = await argoHealth(await vipJson(nsB, 'dup'));
    expect(health).toMatchObject({ status: 'Degraded' });
    expect(health.message).toMatch(/^Conflict: /);
  });

  it('is Progressing for an accepted VIP that its load-balancer node has not programmed yet', async () => {
    // A node that matches web's nodeSelector and is alive but has not applied it (Programmed=Pending).
    await reportNode(fakeNode, { 'sterlet.dev/test': nodeTag }, []);
    const st = await waitCondition(nsA, 'web', 'Programmed', { status: 'False', reason: 'Pending' }, SETTLE_MS);
    expect(condition(st, 'Reconciling')).toMatchObject({ status: 'True', reason: 'Progressing' });
    expect(condition(st, 'Ready')).toMatchObject({ status: 'False' });
    const object = await vipJson(nsA, 'web');
    const health = await argoHealth(object);
    expect(health.status).toBe('Progressing');
    expect(health.message).toContain('programmed on 0/1 nodes');
  });

  it('is Progressing while the controller has not observed the latest generation', async () => {
    const object = await vipJson(nsA, 'web');
    const meta = object['metadata'] as { generation: number };
    // The same object one spec change later, before the controller caught up.
    const ahead = { ...object, metadata: { ...meta, generation: meta.generation + 1 } };
    const health = await argoHealth(ahead);
    expect(health.status).toBe('Progressing');
    expect(health.message).toContain(`generation ${meta.generation + 1}`);
  });
});
