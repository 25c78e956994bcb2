// Runs the real controller against the local control plane: in this process
// (runController with an AbortSignal) or as a child process (for killing it).
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createLogger } from '../../../src/common/log.ts';
import { type ControllerOptions, runController } from '../../../src/controller/main.ts';
import { kubeconfigPath, REPO_ROOT } from './index.ts';

export interface InProcessController {
  stop(): Promise<void>;
}

export interface ControllerTestOptions {
  readonly leaseNamespace: string;
  readonly leaseName?: string;
  readonly leaseDurationSeconds?: number;
  readonly heartbeatTimeoutSeconds?: number;
  readonly resyncSeconds?: number;
  readonly identity?: string;
  readonly services?: ControllerOptions['services'];
}

export function startController(options: ControllerTestOptions): InProcessController {
  const ac = new AbortController();
  const log = createLogger({ name: 'controller', level: process.env['STERLET_TEST_LOG_LEVEL'] ?? 'warn' });
  const run = runController({
    kubeconfig: kubeconfigPath(),
    leaseNamespace: options.leaseNamespace,
    leaseName: options.leaseName ?? 'sterlet-controller',
    leaseDurationSeconds: options.leaseDurationSeconds ?? 4,
    heartbeatTimeoutSeconds: options.heartbeatTimeoutSeconds,
    resyncSeconds: options.resyncSeconds,
    identity: options.identity,
    // Other test files' Services are not ours: a class per test file, or none.
    services: options.services ?? { enabled: false },
    metricsAddr: '127.0.0.1:0',
    log,
    signal: ac.signal,
  });
  run.catch((err: unknown) => log.error({ err: String(err) }, 'controller failed'));
  return {
    async stop() {
      ac.abort();
      await run.catch(() => undefined);
    },
  };
}

/** The controller as its own process (node test/support/kube/controller-main.ts). */
export function spawnController(options: ControllerTestOptions & { identity: string; metricsPort?: number }): ChildProcess {
  const env = {
    ...process.env,
    KUBECONFIG: kubeconfigPath(),
    CTL_LEASE_NAMESPACE: options.leaseNamespace,
    CTL_LEASE_NAME: options.leaseName ?? 'sterlet-controller',
    CTL_LEASE_DURATION: String(options.leaseDurationSeconds ?? 4),
    CTL_IDENTITY: options.identity,
    CTL_METRICS_ADDR: `127.0.0.1:${options.metricsPort ?? 0}`,
  };
  const node = resolve(REPO_ROOT, 'node_modules/.bin/node');
  return spawn(node, [resolve(REPO_ROOT, 'test/support/kube/controller-main.ts')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
}
