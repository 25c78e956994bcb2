// Running commands for the test harnesses: short host commands (ip, sysctl,
// ethtool) for e2e and the Kubernetes tools below. For the former:
// argv only (no shell), bounded by a timeout, failures carry the command line
// and stderr so a broken topology says exactly which step failed.
import { execFile, spawn } from 'node:child_process';
import { resolve } from 'node:path';

/** Repository root (test/support -> ../..). */
export const REPO_ROOT: string = resolve(import.meta.dirname, '../..');
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

// Tools that take stdin and whose failure the caller may want as a result
// (kubectl, helm): spawned, with the exit code returned or thrown.

export interface ToolResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface ToolOptions {
  /** Written to the tool's stdin (e.g. YAML for `kubectl apply -f -`). */
  readonly input?: string;
  /** Return a non-zero exit as a result instead of throwing. */
  readonly allowFail?: boolean;
  readonly timeoutMs?: number;
  readonly env?: NodeJS.ProcessEnv;
}

export class ToolError extends Error {
  readonly argv: readonly string[];
  readonly result: ToolResult;

  constructor(argv: readonly string[], result: ToolResult, why: string) {
    super(`K8S_TOOL_FAILED: \`${argv.join(' ')}\` ${why}: ${result.stderr.trim() || result.stdout.trim() || '(no output)'}`);
    this.name = 'ToolError';
    this.argv = argv;
    this.result = result;
  }
}

/** Runs file with args; resolves with {code, stdout, stderr}. */
export function runTool(file: string, args: readonly string[], options: ToolOptions = {}): Promise<ToolResult> {
  const argv = [file, ...args];
  const timeoutMs = options.timeoutMs ?? 60_000;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file, args, { env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`K8S_TOOL_SPAWN: cannot run ${file}: ${error.message}. Fix: run scripts/testbin.sh`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result: ToolResult = {
        code: code ?? 128,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (timedOut) reject(new ToolError(argv, result, `timed out after ${String(timeoutMs)} ms`));
      else if (result.code !== 0 && options.allowFail !== true) {
        reject(new ToolError(argv, result, `exited ${signal ?? String(result.code)}`));
      } else resolvePromise(result);
    });
    child.stdin.on('error', () => undefined); // the tool may exit before reading stdin
    child.stdin.end(options.input ?? '');
  });
}
