// CPU and NUMA topology from sysfs: which CPUs are online and which NUMA node
// each belongs to, so the agent can allocate one LRU per forwarding CPU on
// that CPU's node. The sysfs root is a parameter so tests can use fake trees.

import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { SterletError, errorText } from '../../common/errors.ts';

export interface CpuInfo {
  readonly cpu: number;
  readonly node: number;
  /** False when sysfs names no node for this CPU and node 0 was assumed. */
  readonly nodeKnown: boolean;
}

export interface Topology {
  /** Online CPUs, ascending. */
  readonly cpus: readonly CpuInfo[];
  /** NUMA nodes that have at least one online CPU, ascending. */
  readonly nodes: readonly number[];
  /** CPUs sysfs gave no node for (assumed on node 0); usually a VM quirk. */
  readonly cpusWithoutNode: readonly number[];
}

export interface ReadTopologyOptions {
  /** Defaults to /sys. */
  readonly sysfsRoot?: string;
}

/** Reads online CPUs and their NUMA nodes. */
export async function readTopology(options: ReadTopologyOptions = {}): Promise<Topology> {
  const root = options.sysfsRoot ?? '/sys';
  const cpuDir = join(root, 'devices/system/cpu');
  const onlineFile = join(cpuDir, 'online');
  let onlineText: string;
  try {
    onlineText = await readFile(onlineFile, 'utf8');
  } catch (err) {
    throw new SterletError('TOPOLOGY_SYSFS_UNREADABLE', `cannot read ${onlineFile}`, {
      why: errorText(err),
      fix: 'run on Linux with sysfs mounted at /sys (or pass the right sysfs root)',
      cause: err,
    });
  }
  const online = parseCpuList(onlineText, onlineFile);
  if (online.length === 0) {
    throw new SterletError('TOPOLOGY_NO_ONLINE_CPUS', `${onlineFile} lists no CPUs`, {
      why: 'the kernel always has at least one online CPU, so this sysfs tree is not a real one',
      fix: 'point the sysfs root at a mounted sysfs',
    });
  }

  const fromNodeDir = await nodesFromNodeDir(root);
  const cpus: CpuInfo[] = [];
  const cpusWithoutNode: number[] = [];
  for (const cpu of online) {
    const node = (await nodeFromCpuDir(cpuDir, cpu)) ?? fromNodeDir.get(cpu);
    if (node === undefined) cpusWithoutNode.push(cpu);
    cpus.push({ cpu, node: node ?? 0, nodeKnown: node !== undefined });
  }
  const nodes = [...new Set(cpus.map((c) => c.node))].sort((a, b) => a - b);
  return { cpus, nodes, cpusWithoutNode };
}

/** cpuN/nodeM entries (symlinks in real sysfs). */
async function nodeFromCpuDir(cpuDir: string, cpu: number): Promise<number | undefined> {
  let entries: string[];
  try {
    entries = await readdir(join(cpuDir, `cpu${cpu}`));
  } catch {
    return undefined;
  }
  for (const name of entries) {
    const m = /^node(\d+)$/.exec(name);
    if (m) return Number(m[1]);
  }
  return undefined;
}

/** devices/system/node/nodeM/cpulist, the fallback source. */
async function nodesFromNodeDir(root: string): Promise<Map<number, number>> {
  const nodeDir = join(root, 'devices/system/node');
  const byCpu = new Map<number, number>();
  let entries: string[];
  try {
    entries = await readdir(nodeDir);
  } catch {
    return byCpu; // kernels without NUMA support have no node directory
  }
  for (const name of entries) {
    const m = /^node(\d+)$/.exec(name);
    if (!m) continue;
    const file = join(nodeDir, name, 'cpulist');
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    for (const cpu of parseCpuList(text, file)) byCpu.set(cpu, Number(m[1]));
  }
  return byCpu;
}

/**
 * The CPUs that forward packets: all online CPUs, or those named by `spec`, a
 * kernel-style CPU list such as "0-3,6". Every named CPU must be online.
 */
export function forwardingCpus(topology: Topology, spec?: string): CpuInfo[] {
  if (spec === undefined) return [...topology.cpus];
  const wanted = parseCpuList(spec, 'the forwarding CPU list');
  if (wanted.length === 0) {
    throw new SterletError('TOPOLOGY_EMPTY_CPU_LIST', 'the forwarding CPU list is empty', {
      why: 'at least one CPU must forward packets',
      fix: `name CPUs like "0-3,6", or omit the option to use all online CPUs (${formatCpuList(topology.cpus.map((c) => c.cpu))})`,
    });
  }
  const byCpu = new Map(topology.cpus.map((c) => [c.cpu, c]));
  const missing = wanted.filter((cpu) => !byCpu.has(cpu));
  if (missing.length > 0) {
    throw new SterletError('TOPOLOGY_CPU_NOT_ONLINE', `forwarding CPU(s) ${formatCpuList(missing)} are not online`, {
      why: `this machine's online CPUs are ${formatCpuList(topology.cpus.map((c) => c.cpu))}`,
      fix: 'choose forwarding CPUs from the online list, or omit the option to use all of them',
      details: { requested: spec, missing },
    });
  }
  return wanted.map((cpu) => byCpu.get(cpu)!);
}

/**
 * Parses a kernel CPU list ("0-3,8,10-11"; whitespace and a trailing newline
 * allowed; empty = no CPUs) into ascending unique CPU numbers.
 */
export function parseCpuList(text: string, source = 'CPU list'): number[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  const cpus = new Set<number>();
  for (const part of trimmed.split(',')) {
    const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(part);
    const first = m ? Number(m[1]) : NaN;
    const last = m?.[2] === undefined ? first : Number(m[2]);
    if (!m || !Number.isSafeInteger(first) || !Number.isSafeInteger(last) || last < first || last > 65535) {
      throw new SterletError('TOPOLOGY_BAD_CPU_LIST', `cannot parse ${JSON.stringify(part.trim())} in ${source}`, {
        why: 'a CPU list is comma-separated CPU numbers or ascending ranges, e.g. "0-3,8,10-11"',
        fix: 'write the CPU list in that form',
      });
    }
    for (let cpu = first; cpu <= last; cpu++) cpus.add(cpu);
  }
  return [...cpus].sort((a, b) => a - b);
}

/** Formats CPUs back into the compact kernel form, e.g. [0,1,2,5] -> "0-2,5". */
export function formatCpuList(cpus: readonly number[]): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}
