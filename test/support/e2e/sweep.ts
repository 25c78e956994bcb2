// Leftovers of e2e runs whose test process died without teardown (SIGKILL,
// a crashed worker): namespaces, bpffs directories and scratch mounts named
// `stl-<pid>-<hex>` whose pid is gone. Only such names are touched, and only
// when their owner is dead, so concurrent runs never disturb each other.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { run, runQuiet } from '../exec.ts';

const RUN_NAME = /^stl-(\d+)-[0-9a-f]{6}(?:-|$)/;

function ownerDead(name: string): boolean {
  const pid = Number(RUN_NAME.exec(name)?.[1] ?? NaN);
  if (!Number.isInteger(pid) || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return error !== null && typeof error === 'object' && 'code' in error && error.code === 'ESRCH';
  }
}

/** Removes stale e2e leftovers; returns what it removed (for the log). */
export async function sweepStaleRuns(): Promise<string[]> {
  const removed: string[] = [];
  const { stdout } = await run(['ip', 'netns', 'list']);
  for (const netns of stdout.split('\n').map((l) => l.split(' ')[0] ?? '')) {
    if (!RUN_NAME.test(netns) || !ownerDead(netns)) continue;
    // Servers and agents a dead run started are still inside; stop them by pid.
    const pids = (await run(['ip', 'netns', 'pids', netns]).catch(() => ({ stdout: '' }))).stdout.split('\n').filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await runQuiet(['ip', 'netns', 'del', netns]);
    removed.push(`netns ${netns}`);
  }
  for (const entry of await readdir(tmpdir()).catch(() => [])) {
    if (!RUN_NAME.test(entry) || !ownerDead(entry)) continue;
    const dir = join(tmpdir(), entry);
    await runQuiet(['umount', '-l', join(dir, 'bpffs')]);
    await rm(dir, { recursive: true, force: true });
    removed.push(`scratch ${dir}`);
  }
  for (const entry of await readdir('/sys/fs/bpf').catch(() => [])) {
    if (!RUN_NAME.test(entry) || !ownerDead(entry)) continue;
    await rm(join('/sys/fs/bpf', entry), { recursive: true, force: true });
    removed.push(`bpffs /sys/fs/bpf/${entry}`);
  }
  return removed;
}
