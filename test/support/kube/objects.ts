// Small builders and API helpers shared by the controller tests.
import { randomBytes } from 'node:crypto';
import { KubeClient, type KubeObject, Resources } from '../../../src/kube/client.ts';
import { kubeconfigPath, kubectl, waitFor } from './index.ts';

export const API = 'sterlet.dev/v1alpha1';

let cached: KubeClient | undefined;
export function client(): KubeClient {
  cached ??= KubeClient.create({ kubeconfig: kubeconfigPath() });
  return cached;
}

/** A random /24 inside 10.128.0.0/9, so pools of different test files never overlap. */
export function randomVipNet(): string {
  const b = randomBytes(2);
  return `10.${128 + ((b[0] ?? 0) & 127)}.${b[1] ?? 0}`;
}

export interface Condition { type: string; status: string; reason: string; message: string; observedGeneration?: number; lastTransitionTime: string }
export interface VipStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  backends?: number;
  activeBackends?: number;
  nodes?: string;
  compiled?: { revision: string; generation: number; backends: { address: string; weight: number; name: string }[] };
}

export function vip(name: string, spec: Record<string, unknown>): KubeObject {
  return { apiVersion: API, kind: 'VirtualIP', metadata: { name }, spec: { port: 80, protocol: 'TCP', ...spec } };
}
export function backend(name: string, address: string, labels: Record<string, string>, weight = 1): KubeObject {
  return { apiVersion: API, kind: 'Backend', metadata: { name, labels }, spec: { address, weight } };
}
export function pool(name: string, spec: Record<string, unknown>): KubeObject {
  return { apiVersion: API, kind: 'VirtualIPPool', metadata: { name }, spec };
}

export async function applyObjects(ns: string | undefined, objects: readonly KubeObject[]): Promise<void> {
  const args = ns === undefined ? [] : ['-n', ns];
  await kubectl(['apply', ...args, '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) });
}

export async function vipStatus(ns: string, name: string): Promise<VipStatus & { finalizers: string[]; exists: boolean }> {
  try {
    const o = await client().get(Resources.virtualIP, name, ns);
    return { ...((o['status'] ?? {}) as VipStatus), finalizers: o.metadata.finalizers ?? [], exists: true };
  } catch {
    return { finalizers: [], exists: false };
  }
}

export function condition(status: VipStatus, type: string): Condition | undefined {
  return status.conditions?.find((c) => c.type === type);
}

/** Waits until the VIP's condition matches; returns the whole status. */
export function waitCondition(ns: string, name: string, type: string, want: { status?: string; reason?: string; message?: RegExp | string }, timeoutMs = 15_000): Promise<VipStatus> {
  return waitFor(async () => {
    const st = await vipStatus(ns, name);
    const c = condition(st, type);
    if (c === undefined) return false;
    if (want.status !== undefined && c.status !== want.status) return false;
    if (want.reason !== undefined && c.reason !== want.reason) return false;
    if (want.message !== undefined && !(typeof want.message === 'string' ? c.message === want.message : want.message.test(c.message))) return false;
    return st;
  }, { what: `VirtualIP ${ns}/${name} ${type}=${JSON.stringify(want)}`, timeoutMs, intervalMs: 50 });
}

/** A LoadBalancerNode written the way an agent writes it (tests of the controller's arithmetic only). */
export async function reportNode(name: string, labels: Record<string, string>, vips: { id: string; revision?: string; ringFingerprint?: string; error?: { code: string; message: string } }[], lastAppliedTime = new Date().toISOString()): Promise<void> {
  const c = client();
  try {
    await c.get(Resources.loadBalancerNode, name);
  } catch {
    await c.create(Resources.loadBalancerNode, { apiVersion: API, kind: 'LoadBalancerNode', metadata: { name, labels } });
  }
  await c.patchStatus(Resources.loadBalancerNode, name, { virtualIPs: vips.map((v) => ({ generation: 1, ...v })), lastAppliedTime });
}

export async function deleteNodes(names: readonly string[]): Promise<void> {
  for (const n of names) await client().delete(Resources.loadBalancerNode, n).catch(() => undefined);
}

/** Removes Sterlet finalizers in a namespace so it can be deleted without a controller. */
export async function dropFinalizers(ns: string): Promise<void> {
  const list = await client().list(Resources.virtualIP, { namespace: ns }).catch(() => ({ items: [] as KubeObject[] }));
  for (const o of list.items) {
    if ((o.metadata.finalizers ?? []).length === 0) continue;
    await client().mergePatch(Resources.virtualIP, o.metadata.name, { metadata: { finalizers: null } }, { namespace: ns }).catch(() => undefined);
  }
}
