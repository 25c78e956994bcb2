// A per-run bpffs directory for the agent's pins. `ip netns exec` mounts a
// fresh sysfs over /sys in its own mount namespace, which hides /sys/fs/bpf:
// an agent run that way cannot see the host's bpffs (and mounting its own
// would give every restart a new, empty instance, so nothing could be
// adopted). So the run's directory /sys/fs/bpf/<run id> is bind-mounted at
// <scratch>/bpffs, a path that survives into the namespace: the agent pins
// there, and the host sees the same pins under /sys/fs/bpf/<run id>.
import { mkdir, readdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { NAMES_DIR, namesFilePath } from '../../../src/agent/dataplane/names-file.ts';
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
    await removeNamesFiles(path);
  });
  return { hostPath, path };
}

/** The names files agents pinned under `dir` (or a subdirectory) wrote to /run/sterlet. */
async function removeNamesFiles(dir: string): Promise<void> {
  const prefix = basename(namesFilePath(dir)).replace(/\.names\.json$/, '');
  const files = await readdir(NAMES_DIR).catch(() => [] as string[]);
  for (const f of files) if (f.startsWith(prefix) && f.endsWith('.names.json')) await rm(join(NAMES_DIR, f), { force: true });
}
