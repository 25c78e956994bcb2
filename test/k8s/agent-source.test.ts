// The agent's Kubernetes source against a real API server: it registers its
// LoadBalancerNode, yields the compiled state of the VIPs its labels select
// (only when what is programmed changes), writes node status from the
// runtime's feedback, and — through a proxy the test cuts — keeps quiet while
// the API server is unreachable and catches up when it returns.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { kubernetesSource, type KubernetesSource } from '../../src/agent/sources/kubernetes.ts';
import type { SourceEvent } from '../../src/agent/sources/types.ts';
import { KubeClient, Resources } from '../../src/kube/client.ts';
import { createNamespace, deleteNamespace, kubeconfigPath, kubectl, uniqueName, waitFor } from '../support/kube/index.ts';
import { installCrds } from '../support/kube/crds.ts';
import { API, client, dropFinalizers } from '../support/kube/objects.ts';
import { Proxy } from '../support/kube/proxy.ts';

const nodeName = uniqueName('lbn');
const tag = nodeName;
let ns = '';
let proxy: Proxy;
let dir = '';
let source: KubernetesSource;
const ac = new AbortController();
let iterator: AsyncIterator<SourceEvent>;

/** A kubeconfig like the admin one but pointing at `server`. */
function kubeconfigVia(server: string): string {
  const cfg = parse(readFileSync(kubeconfigPath(), 'utf8')) as { clusters: { cluster: { server: string } }[] };
  for (const c of cfg.clusters) c.cluster.server = server;
  const path = join(dir, 'kubeconfig');
  writeFileSync(path, stringify(cfg), { mode: 0o600 });
  return path;
}

function compiled(address: string, backends: string[], selector?: Record<string, string>, generation = 1): Record<string, unknown> {
  const revision = Buffer.from(`${address}${backends.join()}`).toString('hex').padEnd(16, '0').slice(0, 16);
  return {
    generation, revision,
    key: { address, family: 'IPv4', port: 80, protocol: 'TCP' },
    flags: { hash: 'FiveTuple', connectionTracking: 'Enabled', quic: false, encapsulation: 'IPIP' },
    backends: backends.map((a, i) => ({ address: a, family: 'IPv4', weight: 1, name: `be-${i}` })),
    ...(selector === undefined ? {} : { nodeSelector: { matchLabels: selector } }),
  };
}

/** Creates (or updates) a VIP and writes its status.compiled the way the controller does. */
async function publish(name: string, body: Record<string, unknown> | null): Promise<void> {
  const c = client();
  try {
    await c.get(Resources.virtualIP, name, ns);
  } catch {
    await c.create(Resources.virtualIP, { apiVersion: API, kind: 'VirtualIP', metadata: { name, namespace: ns }, spec: { address: '10.99.0.1', port: 80, protocol: 'TCP', backendSelector: {} } }, ns);
  }
  await c.patchStatus(Resources.virtualIP, name, { compiled: body }, ns);
}

async function next(timeoutMs = 10_000): Promise<SourceEvent> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no source event within ${timeoutMs} ms`)), timeoutMs); });
  try {
    const r = await Promise.race([iterator.next(), timeout]);
    if (r.done === true) throw new Error('source ended');
    return r.value;
  } finally {
    clearTimeout(timer);
  }
}

/** No event within `ms` (the source must stay quiet). */
async function quiet(ms: number): Promise<boolean> {
  const pending = iterator.next();
  const r = await Promise.race([pending.then(() => false), new Promise<boolean>((res) => setTimeout(() => res(true), ms))]);
  if (r) pendingNext = pending;
  return r;
}
let pendingNext: Promise<IteratorResult<SourceEvent>> | undefined;
async function nextAfterQuiet(timeoutMs = 15_000): Promise<SourceEvent> {
  const p = pendingNext ?? iterator.next();
  pendingNext = undefined;
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([p, new Promise<never>((_, rej) => { timer = setTimeout(() => rej(new Error('no event after reconnect')), timeoutMs); })]);
  clearTimeout(timer);
  if (r.done === true) throw new Error('source ended');
  return r.value;
}

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('src');
  dir = mkdtempSync(join(tmpdir(), 'sterlet-src-'));
  const admin = KubeClient.create({ kubeconfig: kubeconfigPath() });
  proxy = await Proxy.listen({ host: '127.0.0.1', port: 0 }, { host: admin.server.hostname, port: Number(admin.server.port) });
  source = kubernetesSource({
    nodeName,
    kubeconfig: kubeconfigVia(`https://127.0.0.1:${proxy.port}`),
    facts: { interface: 'eth9', xdpMode: 'Native', programId: 42, numaNodes: [0], forwardingCpus: [0, 1], agentVersion: 'test' },
  });
  iterator = source.events(ac.signal)[Symbol.asyncIterator]();
});

afterAll(async () => {
  ac.abort();
  await proxy?.close();
  await client().delete(Resources.loadBalancerNode, nodeName).catch(() => undefined);
  if (ns !== '') { await dropFinalizers(ns); await deleteNamespace(ns); }
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe('agent Kubernetes source', () => {
  it('registers its LoadBalancerNode and yields the VIPs whose nodeSelector matches its labels', async () => {
    await publish('mine', compiled('10.99.0.1', ['10.0.9.1', '10.0.9.2'], { 'sterlet.dev/test': tag }));
    await publish('everyone', compiled('10.99.0.2', ['10.0.9.3']));
    await publish('elsewhere', compiled('10.99.0.3', ['10.0.9.4'], { 'sterlet.dev/test': 'other' }));
    const first = await next(20_000);
    expect(first.kind).toBe('state');
    // Registered without labels: only the VIP with no nodeSelector is ours so far.
    const lbn = await client().get(Resources.loadBalancerNode, nodeName);
    expect(lbn.metadata.name).toBe(nodeName);
    if (first.kind === 'state' && first.vips.some((v) => v.id === `${ns}/mine`)) throw new Error('selected before labelled');
    await kubectl(['label', 'loadbalancernode', nodeName, `sterlet.dev/test=${tag}`]);
    const labelled = await next();
    expect(labelled.kind === 'state' && labelled.vips.filter((v) => v.id.startsWith(`${ns}/`)).map((v) => v.id).sort()).toEqual([`${ns}/everyone`, `${ns}/mine`]);
    const mine = labelled.kind === 'state' ? labelled.vips.find((v) => v.id === `${ns}/mine`) : undefined;
    expect(mine?.backends.map((b) => b.address)).toEqual(['10.0.9.1', '10.0.9.2']);
    expect(mine?.flags.connectionTracking).toBe(true);
  });

  it('writes what the runtime applied into LoadBalancerNode status', async () => {
    await source.report?.({ ok: true, vips: [{ id: `${ns}/mine`, revision: 'abcdefabcdefabcd', ringFingerprint: 'ring1' }] });
    const status = await waitFor(async () => {
      const o = await client().get(Resources.loadBalancerNode, nodeName);
      const st = o['status'] as { virtualIPs?: { id: string; revision?: string; ringFingerprint?: string; generation: number }[]; interface?: string; programId?: number; lastAppliedTime?: string } | undefined;
      return st?.virtualIPs?.some((v) => v.id === `${ns}/mine`) === true ? st : undefined;
    }, { what: 'LoadBalancerNode status with the applied VIP', timeoutMs: 10_000 });
    expect(status).toMatchObject({ interface: 'eth9', programId: 42, xdpMode: 'Native', forwardingCpus: [0, 1] });
    expect(status.virtualIPs?.find((v) => v.id === `${ns}/mine`)).toMatchObject({ revision: 'abcdefabcdefabcd', ringFingerprint: 'ring1', generation: 1 });
    expect(Date.now() - Date.parse(status.lastAppliedTime ?? '')).toBeLessThan(30_000);
  });

  it('reports a VIP the plan left out with its code, next to the programmed ones', async () => {
    const message = `VirtualIP ${ns}/other claims TCP 10.99.0.1:80, already programmed for VirtualIP ${ns}/mine; ... so ${ns}/other is left out. Change or delete one of them.`;
    await source.report?.({
      ok: true,
      vips: [
        { id: `${ns}/mine`, revision: 'abcdefabcdefabcd', ringFingerprint: 'ring1' },
        { id: `${ns}/other`, error: message, code: 'AGENT_DUPLICATE_VIP' },
      ],
    });
    const entries = await waitFor(async () => {
      const o = await client().get(Resources.loadBalancerNode, nodeName);
      const st = o['status'] as { virtualIPs?: { id: string; error?: { code: string; message: string } }[] } | undefined;
      return st?.virtualIPs?.some((v) => v.id === `${ns}/other`) === true ? st.virtualIPs : undefined;
    }, { what: 'LoadBalancerNode status with the left-out VIP', timeoutMs: 10_000 });
    expect(entries.find((v) => v.id === `${ns}/other`)?.error).toEqual({ code: 'AGENT_DUPLICATE_VIP', message });
    expect(entries.find((v) => v.id === `${ns}/mine`)?.error).toBeUndefined();
  });

  it('writes flows per backend beside the applied state, neither write replacing the other', async () => {
    const flows = { recentSeconds: 60, changedTime: new Date().toISOString(), backends: [{ address: '10.0.9.1', flows: 12, recent: 3 }] };
    // Back to back: the second write merges with the first if it is still pending.
    await source.report?.({ ok: true, vips: [{ id: `${ns}/mine`, revision: 'cccccccccccccccc', ringFingerprint: 'ring3' }] });
    source.reportFlows?.(flows);
    const status = await waitFor(async () => {
      const st = (await client().get(Resources.loadBalancerNode, nodeName))['status'] as { backendFlows?: unknown; virtualIPs?: { revision?: string }[] } | undefined;
      return st?.backendFlows !== undefined && st.virtualIPs?.some((v) => v.revision === 'cccccccccccccccc') === true ? st : undefined;
    }, { what: 'LoadBalancerNode status with flows and the applied VIP', timeoutMs: 10_000 });
    expect(status.backendFlows).toEqual(flows);
  });

  it('stays quiet when only conditions change, and yields when the compiled state does', async () => {
    await client().patchStatus(Resources.virtualIP, 'mine', { conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'x', lastTransitionTime: new Date().toISOString() }] }, ns);
    expect(await quiet(600)).toBe(true);
    await publish('mine', compiled('10.99.0.1', ['10.0.9.1', '10.0.9.2', '10.0.9.5'], { 'sterlet.dev/test': tag }, 2));
    const ev = await nextAfterQuiet();
    const mine = ev.kind === 'state' ? ev.vips.find((v) => v.id === `${ns}/mine`) : undefined;
    expect(mine?.backends).toHaveLength(3);
  });

  it('keeps the last state while the API server is unreachable and catches up when it returns', async () => {
    proxy.cut();
    await publish('everyone', null); // withdrawn while this agent cannot see it
    expect(await quiet(1500)).toBe(true); // nothing emitted: the runtime keeps forwarding on what it has
    await source.report?.({ ok: true, vips: [{ id: `${ns}/mine`, revision: 'bbbbbbbbbbbbbbbb', ringFingerprint: 'ring2' }] });
    proxy.restore();
    const ev = await nextAfterQuiet(20_000);
    expect(ev.kind === 'state' && ev.vips.some((v) => v.id === `${ns}/everyone`)).toBe(false);
    // The status write that failed during the outage lands afterwards.
    await waitFor(async () => {
      const o = await client().get(Resources.loadBalancerNode, nodeName);
      return (o['status'] as { virtualIPs?: { revision?: string }[] }).virtualIPs?.some((v) => v.revision === 'bbbbbbbbbbbbbbbb') === true;
    }, { what: 'the retried status write', timeoutMs: 15_000 });
  });
});
