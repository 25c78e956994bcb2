// A per-run bpffs directory for the agent's pins. `ip netns exec` mounts a
// fresh sysfs over /sys in its own mount namespace, which hides /sys/fs/bpf:
// an agent run that way cannot see the host's bpffs (and mounting its own
// would give every restart a new, empty instance, so nothing could be
// adopted). So the run's directory /sys/fs/bpf/<run id> is bind-mounted at
// <scratch>/bpffs, a path that survives into the namespace: the agent pins
// there, and the host sees the same pins under /sys/fs/bpf/<run id>.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run, runQuiet } from '../exec.ts';
import type { Topology } from './topology.ts';

export interface BpffsDir {
  /** Where the host sees it: /sys/fs/bpf/<run id>. */
  readonly hostPath: string;
  /** Where processes inside the namespaces see it (pass this as --bpffs). */
  readonly path: string;
}

export const BPFFS_ROOT = '/sys/fs/bpf';

/** Creates and bind-mounts the run's bpffs directory; unmounted and removed by topology.destroy(). */
export async function createBpffsDir(topology: Topology): Promise<BpffsDir> {
  const hostPath = join(BPFFS_ROOT, topology.id);
  const path = join(topology.scratch, 'bpffs');
  await mkdir(hostPath);
  topology.onDestroy(async () => {
    await rm(hostPath, { recursive: true, force: true });
  });
  await mkdir(path, { recursive: true });
  await run(['mount', '--bind', hostPath, path]);
  topology.onDestroy(async () => {
    await runQuiet(['umount', '-l', path]);
  });
  return { hostPath, path };
}
