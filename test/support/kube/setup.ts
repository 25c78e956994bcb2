// The k8s project's global setup, parameterised by the scripts it runs so a
// unit test can drive its failure path. On failure it prints the script's
// own error, then ONE line naming the step and the script's error code, and
// ends the run: a thrown error here makes vitest print "No test files found"
// (and CI "0 passed"), which sent people looking in the wrong place.
import { spawnSync } from 'node:child_process';

export interface SetupScripts {
  readonly testbin: string;
  readonly cluster: string;
  readonly kubeconfig: string;
}

class SetupError extends Error {}

function must(path: string, args: readonly string[], why: string, capture: boolean): string {
  // testbin.sh may build for 25 minutes: its progress goes straight to the terminal.
  const result = spawnSync(path, args, { stdio: ['ignore', 'pipe', capture ? 'pipe' : 'inherit'], encoding: 'utf8' });
  const stderr = capture ? (result.stderr ?? '') : '';
  if (stderr !== '') process.stderr.write(stderr);
  if (result.status !== 0) {
    const code = /\b([A-Z][A-Z0-9]*_[A-Z0-9_]+)\b/.exec(stderr)?.[1];
    const cause = result.error?.message ?? (code === undefined ? `exit status ${String(result.status)}` : code);
    throw new SetupError(`K8S_SETUP_FAILED: ${why}: \`${path} ${args.join(' ')}\` failed (${cause}); the lines above say why and what to do`);
  }
  return (result.stdout ?? '').trim();
}

function stop(err: unknown): never {
  const line = err instanceof SetupError ? err.message : `K8S_SETUP_FAILED: ${String(err)}`;
  process.stderr.write(`\n${line}\n`);
  process.exit(1);
}

/** Builds the test binaries, acquires the local control plane, returns the teardown. */
export function k8sGlobalSetup(scripts: SetupScripts): () => void {
  let bin = '';
  try {
    bin = must(scripts.testbin, ['--dir'], 'cannot locate the test binaries cache', true);
    must(scripts.testbin, [], 'building kube-apiserver, kubectl, etcd or helm failed', false);
    must(scripts.cluster, ['acquire', String(process.pid)], 'the local control plane did not start', true);
  } catch (err) {
    stop(err);
  }

  process.env['KUBECONFIG'] = scripts.kubeconfig;
  // Not STERLET_KUBECONFIG: STERLET_<FLAG> is how the sterlet CLI reads its
  // flags, and every CLI child of every project would inherit --kubeconfig.
  process.env['STERLET_TESTBIN'] = bin;
  process.env['PATH'] = `${bin}:${process.env['PATH'] ?? ''}`;

  return () => {
    must(scripts.cluster, ['release', String(process.pid)], 'releasing the local control plane failed', true);
  };
}
