// Running short host commands (ip, sysctl, ethtool) for the e2e harness:
// argv only (no shell), bounded by a timeout, failures carry the command line
// and stderr so a broken topology says exactly which step failed.
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';

/** Repository root (test/e2e/lib -> ../../..). */
export const REPO_ROOT: string = resolve(import.meta.dirname, '../../..');
/** Node 24: the system node is too old for type stripping. */
export const NODE_BIN: string = resolve(REPO_ROOT, 'node_modules/.bin/node');
export const STERLET_CLI: string = resolve(REPO_ROOT, 'src/cli/sterlet.ts');

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
}

export class CommandError extends Error {
  readonly argv: readonly string[];
  readonly stderr: string;
  readonly exitCode: number | null;

  constructor(argv: readonly string[], exitCode: number | null, stderr: string, cause?: unknown) {
    super(`E2E_COMMAND_FAILED: \`${argv.join(' ')}\` exited ${String(exitCode)}: ${stderr.trim() || '(no stderr)'}`, {
      cause,
    });
    this.name = 'CommandError';
    this.argv = argv;
    this.stderr = stderr;
    this.exitCode = exitCode;
  }
}

export interface RunOptions {
  readonly timeoutMs?: number;
  /** Run inside this network namespace (`ip netns exec NS ...`). */
  readonly netns?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

/** Runs argv to completion; rejects with CommandError on a non-zero exit or timeout. */
export function run(argv: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const full = options.netns === undefined ? [...argv] : ['ip', 'netns', 'exec', options.netns, ...argv];
  const [file, ...args] = full;
  if (file === undefined) throw new TypeError('run: empty argv');
  return new Promise((resolvePromise, reject) => {
    execFile(
      file,
      args,
      {
        timeout: options.timeoutMs ?? 30_000,
        maxBuffer: 16 * 1024 * 1024,
        env: options.env ?? process.env,
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      },
      (error, stdout, stderr) => {
        if (error) {
          const code = typeof error.code === 'number' ? error.code : null;
          reject(new CommandError(full, code, `${stderr}${error.killed ? ' (killed: timeout)' : ''}`, error));
          return;
        }
        resolvePromise({ stdout, stderr });
      },
    );
  });
}

/** Runs argv and ignores failure (teardown paths: the object may already be gone). */
export async function runQuiet(argv: readonly string[], options: RunOptions = {}): Promise<boolean> {
  try {
    await run(argv, options);
    return true;
  } catch {
    return false;
  }
}

/** `ip` inside a namespace, e.g. ip(ns, 'addr', 'add', ...). */
export function ip(netns: string, ...args: string[]): Promise<RunResult> {
  return run(['ip', '-n', netns, ...args]);
}

/** Writes one sysctl inside a namespace. */
export async function sysctl(netns: string, key: string, value: string | number): Promise<void> {
  await run(['sysctl', '-q', '-w', `${key}=${String(value)}`], { netns });
}
