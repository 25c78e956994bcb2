import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatCpuList, forwardingCpus, parseCpuList, readTopology } from './topology.ts';
import { cpusFromQueueIrqs, isReceiveQueueName } from './irq.ts';

// A fake machine: sysfs and procfs under one temporary root.
interface FakeIrq {
  readonly name?: string; // handler directory; absent = requested by nobody
  readonly effective?: string;
  readonly affinity?: string;
}
interface FakeMachine {
  readonly online: string;
  readonly nodes?: Record<number, string>;
  readonly iface: string;
  /** Path of the device under /sys/devices; absent = a virtual interface. */
  readonly device?: string;
  /** Where msi_irqs lives: the device itself or its parent (virtio). */
  readonly msiOnParent?: boolean;
  readonly irqs?: Record<number, FakeIrq>;
  readonly threaded?: boolean;
}

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

function write(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}

function machine(m: FakeMachine): { sysfsRoot: string; procfsRoot: string } {
  const root = mkdtempSync(join(tmpdir(), 'sterlet-irq-'));
  roots.push(root);
  const sys = join(root, 'sys');
  const proc = join(root, 'proc');
  write(join(sys, 'devices/system/cpu/online'), `${m.online}\n`);
  for (const [node, list] of Object.entries(m.nodes ?? {})) write(join(sys, `devices/system/node/node${node}/cpulist`), `${list}\n`);
  const netDir = join(sys, 'class/net', m.iface);
  mkdirSync(netDir, { recursive: true });
  write(join(netDir, 'threaded'), m.threaded === true ? '1\n' : '0\n');
  if (m.device !== undefined) {
    const device = join(sys, 'devices', m.device);
    mkdirSync(device, { recursive: true });
    symlinkSync(device, join(netDir, 'device'));
    const msiDir = join(m.msiOnParent === true ? dirname(device) : device, 'msi_irqs');
    for (const irq of Object.keys(m.irqs ?? {})) write(join(msiDir, irq), 'msix\n');
  }
  for (const [irq, spec] of Object.entries(m.irqs ?? {})) {
    const dir = join(proc, 'irq', irq);
    mkdirSync(dir, { recursive: true });
    if (spec.name !== undefined) mkdirSync(join(dir, spec.name));
    if (spec.effective !== undefined) write(join(dir, 'effective_affinity_list'), `${spec.effective}\n`);
    write(join(dir, 'smp_affinity_list'), `${spec.affinity ?? m.online}\n`);
  }
  return { sysfsRoot: sys, procfsRoot: proc };
}

const pci = (fn: string): string => `pci0000:00/0000:00:${fn}`;

describe('isReceiveQueueName', () => {
  it('keeps receive and combined queues, drops control and transmit-only vectors', () => {
    for (const rx of ['virtio2-input.0', 'mlx5_comp3@pci:0000:3b:00.0', 'i40e-eth0-TxRx-7', 'eth0-rx-1', 'ice-ens1-TxRx-0', 'eth0-3']) {
      expect(isReceiveQueueName(rx), rx).toBe(true);
    }
    for (const other of ['virtio2-config', 'virtio2-output.0', 'mlx5_async0@pci:0000:3b:00.0', 'eth0-tx-1', 'i40e-0000:3b:00.0:misc', 'virtio3-event', 'ena-mgmnt@pci:0000:00:05.0']) {
      expect(isReceiveQueueName(other), other).toBe(false);
    }
  });
});

describe('cpusFromQueueIrqs on fake sysfs/procfs trees', () => {
  it('takes the CPUs of the receive-queue interrupts, not the control vector', async () => {
    const roots = machine({
      online: '0-7',
      iface: 'ens1',
      device: pci('04.0'),
      irqs: {
        60: { name: 'mlx5_async0@pci:0000:00:04.0', effective: '0' },
        61: { name: 'mlx5_comp0@pci:0000:00:04.0', effective: '2' },
        62: { name: 'mlx5_comp1@pci:0000:00:04.0', effective: '3' },
        63: { name: 'mlx5_comp2@pci:0000:00:04.0', effective: '2' },
        64: {}, // allocated, no handler
      },
    });
    const choice = await cpusFromQueueIrqs('ens1', parseCpuList('0-7'), roots);
    expect(choice.source).toBe('irq-affinity');
    expect(choice.cpus).toEqual([2, 3]);
    expect(choice.irqs.map((q) => q.irq)).toEqual([61, 62, 63]);
    expect(choice.reason).toContain('3 receive-queue interrupt(s)');
  });

  it('a NIC whose queues all sit on one NUMA node gets tables on that node only', async () => {
    const roots = machine({
      online: '0-7',
      nodes: { 0: '0-3', 1: '4-7' },
      iface: 'ens2',
      device: pci('05.0'),
      irqs: Object.fromEntries([4, 5, 6, 7].map((cpu, q) => [70 + q, { name: `i40e-ens2-TxRx-${q}`, effective: String(cpu) }])),
    });
    const topology = await readTopology({ sysfsRoot: roots.sysfsRoot });
    const choice = await cpusFromQueueIrqs('ens2', topology.cpus.map((c) => c.cpu), roots);
    const cpus = forwardingCpus(topology, formatCpuList(choice.cpus));
    expect(cpus.map((c) => c.cpu)).toEqual([4, 5, 6, 7]);
    expect([...new Set(cpus.map((c) => c.node))]).toEqual([1]);
  });

  it('reads msi_irqs from the parent PCI function for virtio net devices', async () => {
    const roots = machine({
      online: '0-1',
      iface: 'eth0',
      device: `${pci('03.0')}/virtio2`,
      msiOnParent: true,
      irqs: {
        37: { name: 'virtio2-config', effective: '0' },
        38: { name: 'virtio2-input.0', effective: '1' },
        39: { name: 'virtio2-output.0', effective: '0' },
      },
    });
    const choice = await cpusFromQueueIrqs('eth0', [0, 1], roots);
    expect(choice).toMatchObject({ source: 'irq-affinity', cpus: [1] });
  });

  it('uses smp_affinity_list when the kernel has no effective affinity, ignoring offline CPUs', async () => {
    const roots = machine({
      online: '0-3',
      iface: 'eth1',
      device: pci('06.0'),
      irqs: { 80: { name: 'eth1-rx-0', affinity: '1-2,9' }, 81: { name: 'eth1-rx-1', affinity: '8-9' } },
    });
    const choice = await cpusFromQueueIrqs('eth1', [0, 1, 2, 3], roots);
    expect(choice.cpus).toEqual([1, 2]);
    expect(choice.irqs.map((q) => q.irq)).toEqual([80]); // 81 names only offline CPUs
  });

  it('falls back to every online CPU for a veth, threaded NAPI, or queues on no online CPU', async () => {
    const veth = machine({ online: '0-3', iface: 'veth0' });
    expect(await cpusFromQueueIrqs('veth0', [0, 1, 2, 3], veth)).toMatchObject({ source: 'all-online', cpus: [0, 1, 2, 3], reason: expect.stringContaining('no MSI') });

    const threaded = machine({ online: '0-3', iface: 'eth2', device: pci('07.0'), irqs: { 90: { name: 'eth2-rx-0', effective: '1' } }, threaded: true });
    expect(await cpusFromQueueIrqs('eth2', [0, 1, 2, 3], threaded)).toMatchObject({ source: 'all-online', reason: expect.stringContaining('threaded NAPI') });

    const offline = machine({ online: '0-1', iface: 'eth3', device: pci('08.0'), irqs: { 91: { name: 'eth3-config', effective: '0' }, 92: { name: 'eth3-rx-0', effective: '5' } } });
    expect(await cpusFromQueueIrqs('eth3', [0, 1], offline)).toMatchObject({ source: 'all-online', cpus: [0, 1], reason: expect.stringContaining('2 interrupts') });
  });
});

describe('cpusFromQueueIrqs on this machine', () => {
  it('chooses online CPUs for every interface, and all of them for loopback', async () => {
    const online = parseCpuList(await import('node:fs').then((fs) => fs.readFileSync('/sys/devices/system/cpu/online', 'utf8')));
    expect(await cpusFromQueueIrqs('lo', online)).toMatchObject({ source: 'all-online', cpus: online });
    for (const iface of readdirSync('/sys/class/net')) {
      const choice = await cpusFromQueueIrqs(iface, online);
      expect(choice.cpus.length, iface).toBeGreaterThan(0);
      for (const cpu of choice.cpus) expect(online, iface).toContain(cpu);
    }
  });
});
