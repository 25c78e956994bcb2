// Services of type LoadBalancer and VirtualIP backendRef against a real
// kube-apiserver. No kubelet runs here: Node objects (with status) and
// EndpointSlices are written directly, the way the kubelet and the
// EndpointSlice controller would. The controller serves a loadBalancerClass
// unique to this file, so other test runs sharing the cluster never interfere.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KubeObject, Resources } from '../../src/kube/client.ts';
import { createNamespace, deleteNamespace, kubectl, waitFor } from '../support/kube/index.ts';
import { type InProcessController, startController } from '../support/kube/controller.ts';
import { installCrds } from '../support/kube/crds.ts';
import { API, applyObjects, client, condition, dropFinalizers, pool, randomVipNet, vip, vipStatus, waitCondition } from '../support/kube/objects.ts';

const tag = `s${process.pid}-${randomBytes(3).toString('hex')}`;
const lbClass = `sterlet.dev/test-${tag}`;
const nodeLabel = { 'sterlet.dev/test-backend': tag };
const net = randomVipNet();
const small = randomVipNet();
const pools = [`svc-${tag}`, `small-${tag}`, `manual-${tag}`, `dual-${tag}`];
// A hextet without leading zeros, so it reads back from status exactly as written.
const net6 = `2001:db8:${(0x1000 + (randomBytes(2).readUInt16BE(0) % 0xe000)).toString(16)}`;
const nodeNames = ['a', 'b', 'c', 'sick', 'cordoned', 'other', 'dual'].map((n) => `${n}-${tag}`);
let ns = '';
let tiny = '';
let dualNs = '';
let controller: InProcessController | undefined;

const nodeName = (n: string): string => `${n}-${tag}`;

async function createNode(short: string, address: string | string[], opts: { ready?: boolean; unschedulable?: boolean; labelled?: boolean } = {}): Promise<void> {
  const name = nodeName(short);
  await client().create(Resources.node, { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: opts.labelled === false ? {} : nodeLabel }, spec: { unschedulable: opts.unschedulable ?? false } });
  await setNodeStatus(short, address, opts.ready ?? true);
}

async function setNodeStatus(short: string, address: string | string[], ready: boolean): Promise<void> {
  const now = new Date().toISOString();
  await client().patchStatus(Resources.node, nodeName(short), {
    conditions: [{ type: 'Ready', status: ready ? 'True' : 'False', reason: ready ? 'KubeletReady' : 'KubeletNotReady', message: '', lastHeartbeatTime: now, lastTransitionTime: now }],
    addresses: [...[address].flat().map((a) => ({ type: 'InternalIP', address: a })), { type: 'Hostname', address: nodeName(short) }],
  });
}

function service(name: string, spec: Record<string, unknown> = {}, annotations: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name, annotations },
    spec: { type: 'LoadBalancer', loadBalancerClass: lbClass, allocateLoadBalancerNodePorts: false, ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }], selector: { app: name }, ...spec },
  };
}

interface Ep { ip: string; node: string; ready?: boolean; serving?: boolean; terminating?: boolean }
async function setEndpoints(namespace: string, svc: string, eps: readonly Ep[], addressType: 'IPv4' | 'IPv6' = 'IPv4'): Promise<void> {
  const name = `${svc}-slice${addressType === 'IPv4' ? '' : '-v6'}`;
  const body = {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name, namespace, labels: { 'kubernetes.io/service-name': svc, 'endpointslice.kubernetes.io/managed-by': 'sterlet-test' } },
    addressType,
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: eps.map((e) => ({
      addresses: [e.ip], nodeName: nodeName(e.node), targetRef: { kind: 'Pod', name: `pod-${e.ip.replaceAll(/[.:]/g, '-')}`, namespace },
      conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false },
    })),
  };
  try {
    await client().mergePatch(Resources.endpointSlice, name, { endpoints: body.endpoints }, { namespace });
  } catch {
    await client().create(Resources.endpointSlice, body, namespace);
  }
}

async function ingress(namespace: string, name: string): Promise<{ ip?: string; ipMode?: string }[]> {
  const svc = await client().get(Resources.service, name, namespace);
  return ((svc['status'] as { loadBalancer?: { ingress?: { ip?: string; ipMode?: string }[] } } | undefined)?.loadBalancer?.ingress) ?? [];
}

function waitIngress(namespace: string, name: string, timeoutMs = 2_000): Promise<string> {
  return waitFor(async () => (await ingress(namespace, name))[0]?.ip, { what: `Service ${namespace}/${name} status.loadBalancer.ingress`, timeoutMs, intervalMs: 50 });
}

async function events(namespace: string, name: string): Promise<{ reason: string; note: string; type: string }[]> {
  const list = await client().list(Resources.event, { namespace });
  return list.items
    .filter((e) => (e['regarding'] as { name?: string; kind?: string }).name === name && (e['regarding'] as { kind?: string }).kind === 'Service')
    .map((e) => ({ reason: String(e['reason']), note: String(e['note']), type: String(e['type']) }));
}

function waitEvent(namespace: string, name: string, reason: string, note: RegExp): Promise<string> {
  return waitFor(async () => (await events(namespace, name)).find((e) => e.reason === reason && note.test(e.note))?.note, { what: `Event ${reason} ${String(note)} on Service ${name}`, timeoutMs: 10_000 });
}

type Compiled = { address: string; weight: number; name: string }[];
async function backendsOf(namespace: string, vipName: string): Promise<Compiled | undefined> {
  return (await vipStatus(namespace, vipName)).compiled?.backends.map(({ address, weight, name }) => ({ address, weight, name }));
}
async function waitBackends(namespace: string, vipName: string, want: Compiled): Promise<Compiled> {
  let last: unknown;
  return waitFor(async () => {
    const st = await vipStatus(namespace, vipName);
    last = { backends: st.compiled?.backends, conditions: st.conditions?.map((c) => `${c.type}=${c.status} ${c.reason}: ${c.message}`) };
    const got = st.compiled?.backends.map(({ address, weight, name }) => ({ address, weight, name }));
    return JSON.stringify(got) === JSON.stringify(want) ? got : false;
  }, { what: `VirtualIP ${vipName} backends ${JSON.stringify(want)}`, timeoutMs: 10_000, intervalMs: 50 })
    .catch((err: unknown) => { throw new Error(`${String(err)}; last: ${JSON.stringify(last)}`); });
}

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('svc');
  tiny = await createNamespace('svc-tiny');
  dualNs = await createNamespace('svc-dual');
  const only = (n: string) => ({ matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: [n] }] });
  await applyObjects(undefined, [
    pool(pools[0] ?? '', { addresses: [`${net}.0/24`], backendAddresses: ['10.77.0.0/16', '10.78.0.0/16'], namespaceSelector: only(ns), allocation: { addresses: [`${net}.0/26`] } }),
    // Two usable addresses (.1 and .2), for exhaustion.
    pool(pools[1] ?? '', { addresses: [`${small}.0/30`], backendAddresses: ['10.77.0.0/16'], namespaceSelector: only(tiny), allocation: {} }),
    // Only for Services that ask for an address in it.
    pool(pools[2] ?? '', { addresses: [`${net}.128/26`], backendAddresses: ['10.77.0.0/16'], namespaceSelector: only(ns), allocation: { autoAssign: false } }),
    // Both families, for dual-stack Services.
    pool(pools[3] ?? '', { addresses: [`${small}.64/28`, `${net6}::/120`], backendAddresses: ['10.77.0.0/16', `${net6}:77::/120`], namespaceSelector: only(dualNs), allocation: {} }),
  ]);
  await createNode('a', '10.77.0.1');
  await createNode('b', '10.77.0.2');
  await createNode('c', '10.77.0.3');
  await createNode('sick', '10.77.0.4', { ready: false });
  await createNode('cordoned', '10.77.0.5', { unschedulable: true });
  await createNode('other', '10.77.0.6', { labelled: false });
  await createNode('dual', ['10.77.0.7', `${net6}:77::7`]);
  controller = startController({ leaseNamespace: ns, services: { loadBalancerClass: lbClass, nodeSelector: { matchLabels: nodeLabel } } });
  // Leading and synced before the timed tests: a canary from the manual pool gets its address.
  await client().create(Resources.service, service('canary', {}, { 'sterlet.dev/address': `${net}.190` }), ns);
  await waitIngress(ns, 'canary', 30_000);
});

afterAll(async () => {
  for (const n of [ns, tiny, dualNs]) if (n !== '') await kubectl(['delete', 'services,virtualips', '--all', '-n', n, '--wait=false'], { allowFail: true });
  await new Promise((r) => setTimeout(r, 1000));
  await controller?.stop();
  for (const n of [ns, tiny, dualNs]) if (n !== '') { await dropFinalizers(n); await deleteNamespace(n); }
  for (const n of nodeNames) await client().delete(Resources.node, n).catch(() => undefined);
  for (const p of pools) await kubectl(['delete', 'virtualippool', p, '--ignore-not-found'], { allowFail: true });
});

describe('Services of type LoadBalancer', () => {
  it('Cluster: allocates within 2 s, writes ingress with ipMode VIP, and balances over every ready, schedulable backend node', async () => {
    await client().create(Resources.service, service('web', { ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }] }), ns);
    const started = Date.now();
    const ip = await waitIngress(ns, 'web');
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(ip).toBe(`${net}.1`);
    expect(await ingress(ns, 'web')).toEqual([{ ip, ipMode: 'VIP' }]);
    await setEndpoints(ns, 'web', [{ ip: '10.244.0.1', node: 'a' }]);
    // One VirtualIP per port, owned by the Service; NotReady, cordoned and unlabelled nodes are out.
    const nodesWeight1 = [...['a', 'b', 'c'].map((n, i) => ({ address: `10.77.0.${i + 1}`, weight: 1, name: nodeName(n) })),
      { address: '10.77.0.7', weight: 1, name: nodeName('dual') }];
    await waitBackends(ns, 'web-tcp-80', nodesWeight1);
    await waitBackends(ns, 'web-udp-53', nodesWeight1);
    const derived = await client().get(Resources.virtualIP, 'web-tcp-80', ns);
    expect(derived['spec']).toMatchObject({ address: ip, port: 80, protocol: 'TCP', backendRef: { kind: 'Service', name: 'web', target: 'Nodes' } });
    expect((derived.metadata as { ownerReferences?: { kind: string; name: string }[] }).ownerReferences?.[0]).toMatchObject({ kind: 'Service', name: 'web' });
    expect(condition(await vipStatus(ns, 'web-tcp-80'), 'Accepted')?.message).toContain(pools[0]);
    await waitEvent(ns, 'web', 'IPAllocated', new RegExp(`Assigned IP \\["${ip.replaceAll('.', '\\.')}"\\] from VirtualIPPool ${pools[0]}`));
  });

  it('Local: the nodes with ready endpoints, weighted by their count; scaling, terminating endpoints and NotReady nodes follow', async () => {
    await client().create(Resources.service, service('local', { externalTrafficPolicy: 'Local' }), ns);
    await waitIngress(ns, 'local');
    await setEndpoints(ns, 'local', [{ ip: '10.244.1.1', node: 'a' }, { ip: '10.244.1.2', node: 'a' }, { ip: '10.244.1.3', node: 'a' }, { ip: '10.244.2.1', node: 'b' }]);
    const a = (weight: number) => ({ address: '10.77.0.1', weight, name: nodeName('a') });
    const b = (weight: number) => ({ address: '10.77.0.2', weight, name: nodeName('b') });
    const c = (weight: number) => ({ address: '10.77.0.3', weight, name: nodeName('c') });
    await waitBackends(ns, 'local-tcp-80', [a(3), b(1)]);
    // Scale up onto c, scale a down by one.
    await setEndpoints(ns, 'local', [{ ip: '10.244.1.1', node: 'a' }, { ip: '10.244.1.2', node: 'a' }, { ip: '10.244.2.1', node: 'b' }, { ip: '10.244.3.1', node: 'c' }, { ip: '10.244.3.2', node: 'c' }]);
    await waitBackends(ns, 'local-tcp-80', [a(2), b(1), c(2)]);
    // b's only pod terminates (still serving): b drains with weight 0; a not-ready pod counts for nothing.
    await setEndpoints(ns, 'local', [{ ip: '10.244.1.1', node: 'a' }, { ip: '10.244.1.2', node: 'a', ready: false, serving: false }, { ip: '10.244.2.1', node: 'b', ready: false, serving: true, terminating: true }, { ip: '10.244.3.1', node: 'c' }, { ip: '10.244.3.2', node: 'c' }]);
    await waitBackends(ns, 'local-tcp-80', [a(1), b(0), c(2)]);
    // The terminating pod is gone: b is out. Then node c goes NotReady: out as well.
    await setEndpoints(ns, 'local', [{ ip: '10.244.1.1', node: 'a' }, { ip: '10.244.3.1', node: 'c' }, { ip: '10.244.3.2', node: 'c' }]);
    await waitBackends(ns, 'local-tcp-80', [a(1), c(2)]);
    await setNodeStatus('c', '10.77.0.3', false);
    await waitBackends(ns, 'local-tcp-80', [a(1)]);
    await setNodeStatus('c', '10.77.0.3', true);
    await waitBackends(ns, 'local-tcp-80', [a(1), c(2)]);
  });

  it('never hands one address to two Services, also when they are created at the same time', async () => {
    const names = Array.from({ length: 12 }, (_, i) => `burst-${i}`);
    await Promise.all(names.map((n) => client().create(Resources.service, service(n), ns)));
    const ips = await Promise.all(names.map((n) => waitIngress(ns, n, 10_000)));
    expect(new Set(ips).size).toBe(names.length);
    const all = await client().list(Resources.service, { namespace: ns });
    const everyIp = all.items.flatMap((s) => ((s['status'] as { loadBalancer?: { ingress?: { ip: string }[] } }).loadBalancer?.ingress ?? []).map((i) => i.ip));
    expect(new Set(everyIp).size).toBe(everyIp.length);
    await Promise.all(names.map((n) => client().delete(Resources.service, n, ns)));
  });

  it('honours a requested address from a pool that allows it (autoAssign false) and refuses one outside every pool', async () => {
    await client().create(Resources.service, service('asks', {}, { 'sterlet.dev/address': `${net}.130` }), ns);
    expect(await waitIngress(ns, 'asks')).toBe(`${net}.130`);
    await client().create(Resources.service, service('legacy', { loadBalancerIP: `${net}.131` }), ns);
    expect(await waitIngress(ns, 'legacy')).toBe(`${net}.131`);
    await client().create(Resources.service, service('outside', {}, { 'sterlet.dev/address': '10.199.0.1' }), ns);
    const note = await waitEvent(ns, 'outside', 'AllocationFailed', /^AddressNotAllowed: metadata\.annotations\[sterlet\.dev\/address\] asks for 10\.199\.0\.1/);
    expect(note).toContain(`namespace ${ns}`);
    expect(await ingress(ns, 'outside')).toEqual([]);
    // The same address twice: the second Service is refused, the first keeps it.
    await client().create(Resources.service, service('twin', {}, { 'sterlet.dev/address': `${net}.130` }), ns);
    await waitEvent(ns, 'twin', 'AllocationFailed', /^AddressInUse: .* Service .*\/asks/);
    expect(await ingress(ns, 'asks')).toEqual([{ ip: `${net}.130`, ipMode: 'VIP' }]);
    // A bad edit of a working Service keeps its address (nothing programmed is lost).
    await client().mergePatch(Resources.service, 'asks', { metadata: { annotations: { 'sterlet.dev/address': '10.199.0.2' } } }, { namespace: ns });
    await waitEvent(ns, 'asks', 'AllocationFailed', /Keeping .*\.130 until the request can be met/);
    expect(await ingress(ns, 'asks')).toEqual([{ ip: `${net}.130`, ipMode: 'VIP' }]);
  });

  it('says "no pool allows this namespace", "pool exhausted", and refuses a pool the namespace may not use and IPv6 from an IPv4-only pool', async () => {
    const stranger = await createNamespace('svc-stranger');
    try {
      await client().create(Resources.service, service('lost'), stranger);
      await waitEvent(stranger, 'lost', 'AllocationFailed', new RegExp(`^NoPool: no VirtualIPPool allows namespace ${stranger}`));
      await client().create(Resources.service, service('borrow', {}, { 'sterlet.dev/pool': pools[1] ?? '' }), stranger);
      await waitEvent(stranger, 'borrow', 'AllocationFailed', /^PoolNotAllowed: annotation sterlet\.dev\/pool names VirtualIPPool .* which this Service may not use/);
    } finally {
      await kubectl(['delete', 'services', '--all', '-n', stranger, '--wait=false'], { allowFail: true });
      await deleteNamespace(stranger, { wait: false });
    }
    await client().create(Resources.service, service('t1'), tiny);
    await client().create(Resources.service, service('t2'), tiny);
    const got = new Set([await waitIngress(tiny, 't1'), await waitIngress(tiny, 't2')]);
    expect(got).toEqual(new Set([`${small}.1`, `${small}.2`]));
    await client().create(Resources.service, service('t3'), tiny);
    await waitEvent(tiny, 't3', 'AllocationFailed', new RegExp(`^PoolExhausted: every IPv4 address of VirtualIPPool ${pools[1]} \\(${small.replaceAll('.', '\\.')}\\.0/30\\) is in use`));
    await client().create(Resources.service, service('six', {}, { 'sterlet.dev/address': '2001:db8::10' }), tiny);
    await waitEvent(tiny, 'six', 'AllocationFailed', /^AddressNotAllowed: .*2001:db8::10.*outside the allocation ranges of every VirtualIPPool/);
    // Freeing an address hands it to the waiting Service (after t1's VirtualIP is withdrawn).
    const t1 = (await ingress(tiny, 't1'))[0]?.ip;
    await client().delete(Resources.service, 't1', tiny);
    expect(await waitIngress(tiny, 't3', 15_000)).toBe(t1);
  });

  it('changing the class away frees the address and removes the VirtualIPs', async () => {
    await client().create(Resources.service, service('leaving'), ns);
    const ip = await waitIngress(ns, 'leaving');
    await waitFor(async () => (await vipStatus(ns, 'leaving-tcp-80')).exists, { what: 'derived VirtualIP', timeoutMs: 5_000 });
    // loadBalancerClass is immutable; switching type away and back is how a Service leaves a class.
    await client().mergePatch(Resources.service, 'leaving', { spec: { type: 'ClusterIP', loadBalancerClass: null, allocateLoadBalancerNodePorts: null } }, { namespace: ns });
    await waitFor(async () => (await ingress(ns, 'leaving')).length === 0, { what: 'ingress cleared', timeoutMs: 5_000 });
    await waitFor(async () => !(await vipStatus(ns, 'leaving-tcp-80')).exists, { what: 'derived VirtualIP deleted', timeoutMs: 10_000 });
    await waitEvent(ns, 'leaving', 'IPReleased', new RegExp(ip.replaceAll('.', '\\.')));
    await client().create(Resources.service, service('next', {}, { 'sterlet.dev/address': ip }), ns);
    expect(await waitIngress(ns, 'next', 5_000)).toBe(ip);
  });
});

describe('dual-stack Services', () => {
  const dual = (policy: string) => ({ ipFamilyPolicy: policy, ipFamilies: ['IPv4', 'IPv6'], externalTrafficPolicy: 'Local' });

  it('PreferDualStack and RequireDualStack get one address per family, one VirtualIP per (family, port), both in ingress', async () => {
    await client().create(Resources.service, service('both', { ...dual('RequireDualStack'), ports: [{ name: 'http', port: 80, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }] }), dualNs);
    const ips = await waitFor(async () => { const got = await ingress(dualNs, 'both'); return got.length === 2 ? got : undefined; }, { what: 'two ingress entries', timeoutMs: 5_000, intervalMs: 50 });
    expect(ips).toEqual([{ ip: `${small}.65`, ipMode: 'VIP' }, { ip: `${net6}::1`, ipMode: 'VIP' }]);
    const node = nodeName('dual');
    await setEndpoints(dualNs, 'both', [{ ip: '10.244.9.1', node: 'dual' }, { ip: '10.244.9.2', node: 'dual' }]);
    await setEndpoints(dualNs, 'both', [{ ip: `${net6}:244::1`, node: 'dual' }, { ip: `${net6}:244::2`, node: 'dual' }], 'IPv6');
    // The primary family keeps the single-stack names; the second family's VIPs carry its name.
    await waitBackends(dualNs, 'both-tcp-80', [{ address: '10.77.0.7', weight: 2, name: node }]);
    await waitBackends(dualNs, 'both-udp-53', [{ address: '10.77.0.7', weight: 2, name: node }]);
    await waitBackends(dualNs, 'both-tcp-80-ipv6', [{ address: `${net6}:77::7`, weight: 2, name: node }]);
    await waitBackends(dualNs, 'both-udp-53-ipv6', [{ address: `${net6}:77::7`, weight: 2, name: node }]);
    expect((await client().get(Resources.virtualIP, 'both-tcp-80-ipv6', dualNs))['spec']).toMatchObject({ address: `${net6}::1`, port: 80, protocol: 'TCP' });
    await waitEvent(dualNs, 'both', 'IPAllocated', new RegExp(`Assigned IP \\["${small.replaceAll('.', '\\.')}\\.65","${net6}::1"\\] from VirtualIPPool ${pools[3]}; 4 VirtualIPs`));
    // PreferDualStack where a pool gives both: both.
    await client().create(Resources.service, service('prefer', dual('PreferDualStack')), dualNs);
    await waitFor(async () => (await ingress(dualNs, 'prefer')).length === 2, { what: 'prefer: two ingress entries', timeoutMs: 5_000, intervalMs: 50 });
    // Deleting frees both addresses.
    await client().delete(Resources.service, 'both', dualNs);
    await waitFor(async () => !(await vipStatus(dualNs, 'both-tcp-80-ipv6')).exists, { what: 'IPv6 VirtualIP deleted', timeoutMs: 10_000 });
    await client().create(Resources.service, service('again', {}, { 'sterlet.dev/address': `${small}.65,${net6}::1` }), dualNs);
    expect(await waitFor(async () => { const got = await ingress(dualNs, 'again'); return got.length === 2 ? got.map((i) => i.ip) : undefined; }, { what: 'requested pair', timeoutMs: 15_000, intervalMs: 100 }))
      .toEqual([`${small}.65`, `${net6}::1`]);
  });

  it('RequireDualStack is refused with a clear event when no pool gives both families; PreferDualStack then gets the one it can', async () => {
    await client().create(Resources.service, service('need-both', dual('RequireDualStack')), ns);
    const note = await waitEvent(ns, 'need-both', 'AllocationFailed', /^RequireDualStack: spec\.ipFamilyPolicy is RequireDualStack, but no VirtualIPPool this Service may use gives it both families \(IPv6: NoPool: /);
    expect(note).toContain('Use PreferDualStack');
    expect(await ingress(ns, 'need-both')).toEqual([]);
    expect((await vipStatus(ns, 'need-both-tcp-80')).exists).toBe(false);
    await client().create(Resources.service, service('half', dual('PreferDualStack')), ns);
    const ip = await waitIngress(ns, 'half');
    expect(await ingress(ns, 'half')).toEqual([{ ip, ipMode: 'VIP' }]);
    await waitEvent(ns, 'half', 'IPAllocated', /; IPv6 not allocated \(NoPool: /);
  });
});

describe('VirtualIP backendRef', () => {
  it('uses the EndpointSlice addresses directly, ready in, terminating drained', async () => {
    await client().create(Resources.service, { apiVersion: 'v1', kind: 'Service', metadata: { name: 'pods' }, spec: { ports: [{ port: 80 }], selector: { app: 'pods' } } }, ns);
    await setEndpoints(ns, 'pods', [{ ip: '10.78.0.1', node: 'a' }, { ip: '10.78.0.2', node: 'b', ready: false, serving: true, terminating: true }, { ip: '10.78.0.3', node: 'b', ready: false }]);
    await applyObjects(ns, [vip('direct', { address: `${net}.200`, backendRef: { kind: 'Service', name: 'pods' } })]);
    await waitBackends(ns, 'direct', [
      { address: '10.78.0.1', weight: 1, name: 'pod-10-78-0-1' },
      { address: '10.78.0.2', weight: 0, name: 'pod-10-78-0-2' },
    ]);
    const st = await waitCondition(ns, 'direct', 'ResolvedRefs', { status: 'True' });
    expect(st.activeBackends).toBe(1);
  });

  it('a backendRef to a missing Service is a clear condition; both backendRef and backendSelector are rejected by the API server', async () => {
    await applyObjects(ns, [vip('dangling', { address: `${net}.201`, backendRef: { kind: 'Service', name: 'nope' } })]);
    const st = await waitCondition(ns, 'dangling', 'ResolvedRefs', { status: 'False', reason: 'BackendNotFound' });
    expect(condition(st, 'ResolvedRefs')?.message).toMatch(/spec\.backendRef names Service .*\/nope, but no such Service exists/);
    expect(condition(st, 'Accepted')?.status).toBe('True');
    const both = await kubectl(['apply', '-n', ns, '-f', '-'], {
      input: JSON.stringify({ apiVersion: API, kind: 'VirtualIP', metadata: { name: 'both' }, spec: { address: `${net}.202`, port: 80, protocol: 'TCP', backendSelector: {}, backendRef: { kind: 'Service', name: 'pods' } } }),
      allowFail: true,
    });
    expect(both.code).not.toBe(0);
    expect(both.stderr).toMatch(/spec\.backendRef: Invalid value: .*set exactly one of backendSelector .* and backendRef/);
    // The working VIP next to it is untouched.
    expect((await backendsOf(ns, 'direct'))?.length).toBe(2);
  });
});
