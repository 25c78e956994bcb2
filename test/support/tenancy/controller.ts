// The real controller as its own process, exactly as an operator runs it:
// `sterlet controller --kubeconfig build/kubeconfig --leader-elect=false`.
// Its metrics listener takes a free loopback port, so it never collides with
// another controller a concurrent test run started.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { cleanEnv } from '../e2e/agent.ts';
import { NODE_BIN, STERLET_CLI } from '../exec.ts';
import { type ManagedProcess, ProcessGroup } from '../e2e/processes.ts';
import { kubeconfigPath } from '../kube/index.ts';

export interface ControllerProcess {
  readonly proc: ManagedProcess;
  readonly logFile: string;
  stop(): Promise<void>;
}

/** Starts `sterlet controller` and waits until its caches synced and it reconciles. */
export async function startControllerProcess(label: string): Promise<ControllerProcess> {
  const group = new ProcessGroup();
  const logFile = join(mkdtempSync(join(tmpdir(), `sterlet-${label}-`)), 'controller.log');
  const proc = group.start([NODE_BIN, STERLET_CLI, 'controller',
    '--kubeconfig', kubeconfigPath(), '--leader-elect=false',
    '--metrics-addr', '127.0.0.1:0', '--log-level', 'info'], {
    name: `controller ${label}`, logFile, env: cleanEnv(),
  });
  // The log is for a failing test to read while the process runs; it goes with the process.
  const stop = async (): Promise<void> => {
    await group.stopAll();
    rmSync(dirname(logFile), { recursive: true, force: true });
  };
  try {
    await proc.waitForLine(/caches synced; reconciling/, { what: 'its "caches synced" line', timeoutMs: 60_000 });
  } catch (error) {
    await stop();
    throw error;
  }
  return { proc, logFile, stop };
}
