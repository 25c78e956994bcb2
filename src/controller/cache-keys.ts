// What the controller cache indexes by, as pure functions over raw objects:
// claim keys, label keys, the parts of an object whose change needs a
// reconcile, and the index maps' add/remove.

import { formatIp, parseIp } from '../api/ip.ts';
import type { VirtualIP } from '../api/virtual-ip.ts';
import type { KubeObject } from '../kube/client.ts';

/** What a Service reconcile reads: spec, annotations, deletion. */
export function serviceInputs(obj: KubeObject): string {
  return JSON.stringify([obj['spec'], obj.metadata.annotations ?? {}, obj.metadata.deletionTimestamp ?? null, obj.metadata.uid]);
}

export function nodeDigest(obj: KubeObject): string {
  const status = obj['status'] as { conditions?: { type?: string; status?: string }[]; addresses?: unknown } | undefined;
  const ready = status?.conditions?.find((c) => c.type === 'Ready')?.status ?? 'Unknown';
  const unschedulable = (obj['spec'] as { unschedulable?: boolean } | undefined)?.unschedulable === true;
  return JSON.stringify([ready, unschedulable, Object.entries(obj.metadata.labels ?? {}).sort(), status?.addresses ?? []]);
}

export function flowsOf(node: KubeObject | undefined): unknown {
  return (node?.['status'] as { backendFlows?: unknown } | undefined)?.backendFlows;
}

export function nodeEntries(node: KubeObject | undefined): Map<string, string> {
  const list = (node?.['status'] as { virtualIPs?: { id?: unknown }[] } | undefined)?.virtualIPs ?? [];
  const out = new Map<string, string>();
  for (const v of list) if (typeof v.id === 'string') out.set(v.id, JSON.stringify(v));
  return out;
}

export function labelKey(ns: string, key: string, value: string): string {
  return `${ns}/${key}=${value}`;
}

export function selectorOf(obj: KubeObject | undefined): VirtualIP['spec']['backendSelector'] | undefined {
  return (obj?.['spec'] as { backendSelector?: VirtualIP['spec']['backendSelector'] } | undefined)?.backendSelector;
}

export function claimKey(obj: KubeObject): string | undefined {
  const spec = obj['spec'] as { address?: unknown; port?: unknown; protocol?: unknown } | undefined;
  if (typeof spec?.address !== 'string') return undefined;
  const ip = parseIp(spec.address);
  return `${ip === undefined ? spec.address : formatIp(ip)}|${String(spec.port)}|${String(spec.protocol)}`;
}

export function indexAdd(index: Map<string, Set<string>>, ns: string, key: string, present: boolean): void {
  const set = index.get(ns) ?? new Set<string>();
  if (present) set.add(key);
  else set.delete(key);
  if (set.size === 0) index.delete(ns);
  else index.set(ns, set);
}

export function sameLabels(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  return JSON.stringify(Object.entries(a ?? {}).sort()) === JSON.stringify(Object.entries(b ?? {}).sort());
}

export function sameSpecAndMeta(a: KubeObject, b: KubeObject): boolean {
  return (
    a.metadata.generation === b.metadata.generation &&
    a.metadata.deletionTimestamp === b.metadata.deletionTimestamp &&
    JSON.stringify(a.metadata.finalizers ?? []) === JSON.stringify(b.metadata.finalizers ?? []) &&
    sameLabels(a.metadata.labels, b.metadata.labels)
  );
}
