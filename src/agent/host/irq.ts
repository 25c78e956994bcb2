// Which CPUs run the interface's XDP program: XDP runs in the driver's NAPI
// poll, on the CPU that takes the receive queue's interrupt, so those CPUs
// (and only those) need a connection table. RPS and XPS steer packets after
// XDP has run, so they do not count. The sysfs and procfs roots are
// parameters so tests can use fake trees.

import { readFile, readdir, realpath } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseCpuList } from './topology.ts';

export interface QueueIrq {
  readonly irq: number;
  /** The handler name from /proc/irq/N/, e.g. "mlx5_comp3@pci:0000:3b:00.0". */
  readonly name: string;
  /** Online CPUs the interrupt is delivered to. */
  readonly cpus: readonly number[];
}

export interface IrqCpuChoice {
  /** CPUs that should get a connection table, ascending. */
  readonly cpus: readonly number[];
  /** "irq-affinity" when read from the queues' interrupts, else "all-online". */
  readonly source: 'irq-affinity' | 'all-online';
  /** Why this set, in words for the log. */
  readonly reason: string;
  /** The receive-queue interrupts the choice came from (empty for all-online). */
  readonly irqs: readonly QueueIrq[];
}

export interface IrqCpuOptions {
  /** Defaults to /sys. */
  readonly sysfsRoot?: string;
  /** Defaults to /proc. */
  readonly procfsRoot?: string;
}

// Handlers that are not receive queues: control/admin vectors and transmit-only queues.
const CONTROL = /config|async|ctrl|control|admin|mgmt|mgmnt|misc|event|cmd|aeq|fdir|link|mailbox|\bmbx\b/i;
const TX_ONLY = /(^|[^a-z])(tx|output|xmit|sq)([^a-z]|$)/i;
const RX = /(^|[^a-z])(rx|input|txrx|comp|rq|combined)([^a-z]|$)/i;

/** True for an interrupt handler name that serves a receive (or combined) queue. */
export function isReceiveQueueName(name: string): boolean {
  if (RX.test(name)) return true;
  if (CONTROL.test(name) || TX_ONLY.test(name)) return false;
  return true; // unknown naming (e.g. "eth0-3"): a queue vector is the common case
}

/**
 * The forwarding CPUs of `interfaceName` from its receive-queue interrupts and
 * their affinity, restricted to `online`. Falls back to every online CPU when
 * the device has no MSI interrupts (veth, virtual devices), uses threaded NAPI,
 * or its queue interrupts name no online CPU.
 */
export async function cpusFromQueueIrqs(interfaceName: string, online: readonly number[], options: IrqCpuOptions = {}): Promise<IrqCpuChoice> {
  const sys = options.sysfsRoot ?? '/sys';
  const proc = options.procfsRoot ?? '/proc';
  const all = (reason: string): IrqCpuChoice => ({ cpus: [...online], source: 'all-online', reason, irqs: [] });
  const netDir = join(sys, 'class/net', interfaceName);

  if ((await readText(join(netDir, 'threaded')))?.trim() === '1') {
    return all('threaded NAPI: the kernel schedules the poll threads on any CPU');
  }
  const irqNumbers = await msiIrqs(join(netDir, 'device'));
  if (irqNumbers === undefined) return all('the device has no MSI interrupts (a virtual device such as veth)');

  const onlineSet = new Set(online);
  const irqs: QueueIrq[] = [];
  for (const irq of irqNumbers) {
    const name = await handlerName(join(proc, 'irq', String(irq)));
    if (name === undefined || !isReceiveQueueName(name)) continue;
    const cpus = (await affinity(join(proc, 'irq', String(irq)))).filter((c) => onlineSet.has(c));
    if (cpus.length > 0) irqs.push({ irq, name, cpus });
  }
  if (irqs.length === 0) return all(`none of the device's ${irqNumbers.length} interrupts is a receive queue on an online CPU`);
  const cpus = [...new Set(irqs.flatMap((q) => q.cpus))].sort((a, b) => a - b);
  return { cpus, source: 'irq-affinity', reason: `${irqs.length} receive-queue interrupt(s) are delivered to these CPUs`, irqs };
}

/** IRQ numbers under DEVICE/msi_irqs, or its parent's (virtio net devices sit under a PCI function). */
async function msiIrqs(deviceLink: string): Promise<number[] | undefined> {
  let device: string;
  try {
    device = await realpath(deviceLink);
  } catch {
    return undefined; // no device directory: a virtual interface
  }
  for (const dir of [device, dirname(device)]) {
    let names: string[];
    try {
      names = await readdir(join(dir, 'msi_irqs'));
    } catch {
      continue;
    }
    const irqs = names.filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
    if (irqs.length > 0) return irqs;
  }
  return undefined;
}

/** The handler's name: the one directory entry in /proc/irq/N that is not a standard file. */
async function handlerName(irqDir: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(irqDir, { withFileTypes: true }).then((es) => es.filter((e) => e.isDirectory()).map((e) => e.name));
  } catch {
    return undefined;
  }
  return names[0]; // an interrupt nobody requested has no handler directory
}

/** effective_affinity_list (where the kernel delivers it) when present, else smp_affinity_list. */
async function affinity(irqDir: string): Promise<number[]> {
  for (const file of ['effective_affinity_list', 'smp_affinity_list']) {
    const text = await readText(join(irqDir, file));
    if (text === undefined || text.trim() === '') continue;
    return parseCpuList(text, join(irqDir, file));
  }
  return [];
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}
