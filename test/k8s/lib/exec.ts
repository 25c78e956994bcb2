// Runs a CLI (kubectl, helm) to completion with optional stdin, capturing
// exit code and output. Failures throw with the command line and stderr
// unless the caller asked to inspect them (allowFail).
import { spawn } from 'node:child_process';

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
