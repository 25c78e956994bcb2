import { readFileSync } from 'node:fs';
import { cpus as osCpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isSterletError } from '../../common/errors.ts';
import { formatCpuList, forwardingCpus, parseCpuList, readTopology } from './topology.ts';

const fixture = (name: string): string =>
  fileURLToPath(new URL(`../../../test/unit/fixtures/sysfs/${name}`, import.meta.url));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isSterletError(err) ? err.code : `not a SterletError: ${String(err)}`;
  }
  return undefined;
}

describe('parseCpuList / formatCpuList', () => {
  it('parses kernel CPU lists', () => {
    expect(parseCpuList('0-3,8,10-11\n')).toEqual([0, 1, 2, 3, 8, 10, 11]);
    expect(parseCpuList('5')).toEqual([5]);
    expect(parseCpuList(' 2 - 3 , 1 ')).toEqual([1, 2, 3]);
    expect(parseCpuList('\n')).toEqual([]);
    expect(parseCpuList('1,1,0-1')).toEqual([0, 1]);
  });

  it('rejects malformed lists with a stable code', () => {
    for (const bad of ['3-1', 'a', '1,,2', '-1', '0-99999', '1.5']) {
      expect(codeOf(() => parseCpuList(bad)), bad).toBe('TOPOLOGY_BAD_CPU_LIST');
    }
  });

  it('formats back to the compact form', () => {
    expect(formatCpuList([0, 1, 2, 5, 7, 8])).toBe('0-2,5,7-8');
    expect(formatCpuList([])).toBe('');
    expect(parseCpuList(formatCpuList([3, 1, 2, 9]))).toEqual([1, 2, 3, 9]);
  });
});

describe('readTopology on fake sysfs trees', () => {
  it('maps CPUs to two NUMA nodes from cpuN/nodeM links', async () => {
    const t = await readTopology({ sysfsRoot: fixture('two-nodes') });
    expect(t.cpus.map((c) => c.cpu)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(t.cpus.map((c) => c.node)).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    expect(t.nodes).toEqual([0, 1]);
    expect(t.cpusWithoutNode).toEqual([]);
  });

  it('excludes offline CPUs and falls back to node/nodeM/cpulist', async () => {
    const t = await readTopology({ sysfsRoot: fixture('offline') });
    expect(t.cpus).toEqual([
      { cpu: 0, node: 0, nodeKnown: true },
      { cpu: 1, node: 0, nodeKnown: true },
      { cpu: 3, node: 1, nodeKnown: true },
      { cpu: 4, node: 1, nodeKnown: true },
    ]);
  });

  it('puts CPUs without a node on node 0 and flags them', async () => {
    const t = await readTopology({ sysfsRoot: fixture('no-node') });
    expect(t.cpus.map((c) => [c.cpu, c.node, c.nodeKnown])).toEqual([
      [0, 0, true],
      [1, 0, true],
      [2, 0, false],
      [3, 0, false],
    ]);
    expect(t.cpusWithoutNode).toEqual([2, 3]);
    expect(t.nodes).toEqual([0]);
  });

  it('fails clearly when the tree is not sysfs', async () => {
    await expect(readTopology({ sysfsRoot: fixture('does-not-exist') })).rejects.toMatchObject({
      code: 'TOPOLOGY_SYSFS_UNREADABLE',
    });
  });
});

describe('readTopology on this machine', () => {
  it('agrees with the kernel: online CPUs, all with a known node', async () => {
    const t = await readTopology();
    const online = parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'utf8'));
    const nodesOnline = parseCpuList(readFileSync('/sys/devices/system/node/online', 'utf8'));
    expect(t.cpus.map((c) => c.cpu)).toEqual(online);
    expect(t.cpus.length).toBe(osCpus().length);
    expect(t.cpusWithoutNode).toEqual([]);
    for (const n of t.nodes) expect(nodesOnline).toContain(n);
  });
});

describe('forwardingCpus', () => {
  it('defaults to every online CPU and honours a list', async () => {
    const t = await readTopology({ sysfsRoot: fixture('two-nodes') });
    expect(forwardingCpus(t).length).toBe(8);
    expect(forwardingCpus(t, '0,4-5').map((c) => [c.cpu, c.node])).toEqual([
      [0, 0],
      [4, 1],
      [5, 1],
    ]);
  });

  it('rejects offline or unknown CPUs, naming them and the online ones', async () => {
    const t = await readTopology({ sysfsRoot: fixture('offline') });
    let message = '';
    try {
      forwardingCpus(t, '1-2,5,9');
    } catch (err) {
      expect(isSterletError(err, 'TOPOLOGY_CPU_NOT_ONLINE')).toBe(true);
      message = (err as Error).message;
    }
    expect(message).toContain('2,5,9 are not online');
    expect(message).toContain('0-1,3-4');
    expect(codeOf(() => forwardingCpus(t, ''))).toBe('TOPOLOGY_EMPTY_CPU_LIST');
    expect(codeOf(() => forwardingCpus(t, '0-'))).toBe('TOPOLOGY_BAD_CPU_LIST');
  });
});
