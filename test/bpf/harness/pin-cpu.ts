// Pins this test process (every thread) to one CPU, for tests of per-CPU
// state: each CPU has its own connection table and flow cache, and
// BPF_PROG_TEST_RUN runs on the caller's CPU. Returns the undo.
import { spawnSync } from 'node:child_process';

function taskset(args: readonly string[]): string {
  const r = spawnSync('taskset', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`taskset ${args.join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}

export function pinToCpu(cpu: number): () => void {
  const pid = String(process.pid);
  const mask = /:\s*([0-9a-f]+)\s*$/i.exec(taskset(['-p', pid]))?.[1];
  if (mask === undefined) throw new Error('taskset -p printed no affinity mask');
  taskset(['-a', '-p', '-c', String(cpu), pid]);
  return () => void taskset(['-a', '-p', mask, pid]);
}
