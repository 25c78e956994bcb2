// Long-running child processes of the e2e tests (HTTP servers, the client
// runner, the agent), started inside a network namespace. Every process joins
// a ProcessGroup so teardown kills all of them, whatever failed first; output
// is kept line by line (and teed to a log file) so tests can wait for a line
// instead of sleeping.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';

export interface SpawnOptions {
  /** Short label for errors and logs, e.g. `backend-1`. */
  readonly name: string;
  /** Network namespace to run in (`ip netns exec` execs the command: the pid is the command's). */
  readonly netns?: string;
  /** Also append stdout+stderr here (kept after the test for diagnosis). */
  readonly logFile?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Keep stdin open as a pipe (the client runner reads commands from it). */
  readonly stdin?: boolean;
  /** Pin to these CPUs (`taskset -c LIST`, which execs: the pid stays the command's). */
  readonly cpus?: string;
}

export interface LineMatch {
  readonly line: string;
  readonly index: number;
}

const MAX_KEPT_LINES = 20_000;

export class ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or the signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  private readonly lines: string[] = [];
  private dropped = 0;
  private readonly waiters = new Set<() => void>();
  private readonly log: WriteStream | undefined;
  private exitStatus: number | string | undefined;

  constructor(argv: readonly string[], options: SpawnOptions) {
    this.name = options.name;
    const pinned = options.cpus === undefined ? [...argv] : ['taskset', '-c', options.cpus, ...argv];
    const full = options.netns === undefined ? pinned : ['ip', 'netns', 'exec', options.netns, ...pinned];
    const [file, ...args] = full;
    if (file === undefined) throw new TypeError('ManagedProcess: empty argv');
    this.log = options.logFile === undefined ? undefined : createWriteStream(options.logFile, { flags: 'a' });
    this.child = spawn(file, args, {
      stdio: [options.stdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      env: options.env ?? process.env,
    });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitStatus = code ?? signal ?? 'unknown';
        this.notify();
        resolve(this.exitStatus);
      });
      this.child.once('error', (error) => {
        this.push(`[spawn error] ${error.message}`);
        this.exitStatus = 'spawn-error';
        this.notify();
        resolve(this.exitStatus);
      });
    });
    this.follow(this.child.stdout, '');
    this.follow(this.child.stderr, '');
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitStatus === undefined;
  }

  /** Every line kept so far (stdout and stderr interleaved as they arrived). */
  output(): readonly string[] {
    return this.lines;
  }

  /** The last `count` lines, for error messages. */
  tail(count = 30): string {
    return this.lines.slice(-count).join('\n');
  }

  /** Absolute index of the next line to arrive: pass it as `from` to wait only for newer lines. */
  mark(): number {
    return this.dropped + this.lines.length;
  }

  /** Waits for a line (at absolute index >= from) that satisfies `match`; fails early if the process exits. */
  async waitForLine(
    match: RegExp | ((line: string) => boolean),
    options: { from?: number; timeoutMs?: number; what?: string } = {},
  ): Promise<LineMatch> {
    const test = typeof match === 'function' ? match : (line: string): boolean => match.test(line);
    const timeoutMs = options.timeoutMs ?? 15_000;
    const deadline = Date.now() + timeoutMs;
    let next = Math.max(options.from ?? 0, this.dropped);
    for (;;) {
      for (; next < this.dropped + this.lines.length; next++) {
        const line = this.lines[next - this.dropped];
        if (line !== undefined && test(line)) return { line, index: next };
      }
      const what = options.what ?? String(match);
      if (!this.running) {
        throw new Error(`E2E_PROCESS_EXITED: ${this.name} exited (${String(this.exitStatus)}) before printing ${what}; last output:\n${this.tail()}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`E2E_TIMEOUT: ${this.name} did not print ${what} within ${String(timeoutMs)} ms; last output:\n${this.tail()}`);
      }
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, Math.min(left, 1000));
        this.waiters.add(done);
      });
    }
  }

  /** Writes one line to stdin (only when spawned with stdin: true). */
  send(line: string): void {
    const stdin = this.child.stdin;
    if (!stdin || stdin.destroyed) throw new Error(`E2E_PROCESS_STDIN: ${this.name} has no open stdin`);
    stdin.write(`${line}\n`);
  }

  /** Sends `signal` and waits up to `timeoutMs` for exit, then SIGKILL. Safe to call twice. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 5_000): Promise<number | string> {
    if (this.running) {
      this.child.kill(signal);
      const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
      try {
        await this.exited;
      } finally {
        clearTimeout(timer);
      }
    }
    await this.closeLog();
    return this.exited;
  }

  private closeLog(): Promise<void> {
    const log = this.log;
    if (!log || log.closed || log.writableEnded) return Promise.resolve();
    return new Promise((resolve) => log.end(resolve));
  }

  private follow(stream: NodeJS.ReadableStream | null, prefix: string): void {
    if (!stream) return;
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const part of parts) this.push(prefix + part);
    });
    stream.on('end', () => {
      if (partial) this.push(prefix + partial);
      partial = '';
    });
  }

  private push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > MAX_KEPT_LINES) {
      this.lines.shift();
      this.dropped++;
    }
    if (this.log && !this.log.writableEnded) this.log.write(`${line}\n`);
    this.notify();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }
}

/** Owns every process a test started; stopAll() is idempotent and never throws. */
export class ProcessGroup {
  private readonly members = new Set<ManagedProcess>();

  start(argv: readonly string[], options: SpawnOptions): ManagedProcess {
    const proc = new ManagedProcess(argv, options);
    this.members.add(proc);
    return proc;
  }

  /** The running member started under `name`, if any. */
  find(name: string): ManagedProcess | undefined {
    return [...this.members].find((p) => p.name === name && p.running);
  }

  /** Forget a process that the test stopped on purpose (it stays stopped). */
  async remove(proc: ManagedProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await proc.stop(signal);
    this.members.delete(proc);
  }

  async stopAll(): Promise<void> {
    const all = [...this.members];
    this.members.clear();
    await Promise.allSettled(all.map((proc) => proc.stop('SIGTERM', 3_000)));
  }
}
