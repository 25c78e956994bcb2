// The traffic generator, run as one process inside the client namespace:
// `node client-runner.ts --host VIP --port 80`. It takes JSON-line commands on
// stdin and answers each with one JSON line `{id, ok, result|error}` on
// stdout (see client.ts for the typed side). Commands:
//   burst {count, concurrency, timeoutMs}   N brand-new connections, one GET each
//   probe {firstPort, count, concurrency, timeoutMs}  like burst, but connection i
//                                           binds local port firstPort+i: the same
//                                           5-tuples every time, to see where each lands
//   open {count, timeoutMs}                 K keep-alive connections, held open
//   round {timeoutMs}                       one GET on every held connection
//   closeAll {}                             close the held connections
//   startLoad {concurrency, ratePerSecond, timeoutMs}  continuous new connections
//   loadStats {} / stopLoad {}              snapshot / stop and final figures
// Everything is bounded: per-request timeouts, a count or an explicit stop.
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { exchange, type FailureKind, type Outcome } from './http-exchange.ts';

const { values } = parseArgs({
  options: { host: { type: 'string' }, port: { type: 'string', default: '80' } },
});
const host = values.host ?? '';
const port = Number(values.port);
if (host === '' || !Number.isInteger(port)) {
  process.stderr.write('client-runner: --host and --port are required\n');
  process.exit(2);
}

const SLOW_MS = 900;

class Tally {
  total = 0;
  ok = 0;
  failures = 0;
  resets = 0;
  slow = 0;
  maxLatencyMs = 0;
  readonly counts: Record<string, number> = {};
  readonly byKind: Partial<Record<FailureKind, number>> = {};
  readonly errors: string[] = [];
  readonly startedAt = Date.now();

  add(outcome: Outcome, latencyMs: number): void {
    this.total++;
    this.maxLatencyMs = Math.max(this.maxLatencyMs, latencyMs);
    if (latencyMs >= SLOW_MS) this.slow++;
    if (outcome.ok) {
      this.ok++;
      this.counts[outcome.backend] = (this.counts[outcome.backend] ?? 0) + 1;
      return;
    }
    this.failures++;
    if (outcome.kind === 'reset') this.resets++;
    this.byKind[outcome.kind] = (this.byKind[outcome.kind] ?? 0) + 1;
    if (this.errors.length < 10) this.errors.push(`${new Date().toISOString()} ${outcome.kind}: ${outcome.message}`);
  }

  snapshot(): object {
    return {
      total: this.total,
      ok: this.ok,
      failures: this.failures,
      resets: this.resets,
      slow: this.slow,
      maxLatencyMs: Math.round(this.maxLatencyMs),
      durationMs: Date.now() - this.startedAt,
      counts: this.counts,
      byKind: this.byKind,
      errors: this.errors,
    };
  }
}

/** One GET on a brand-new connection; the server closes it after answering (its side keeps TIME_WAIT). */
async function newConnectionRequest(timeoutMs: number, tally: Tally, localPort?: number): Promise<Outcome> {
  const started = performance.now();
  const socket = connect(localPort === undefined ? { host, port } : { host, port, localPort });
  const outcome = await exchange(socket, { host, close: true, timeoutMs });
  socket.destroy();
  tally.add(outcome, performance.now() - started);
  return outcome;
}

async function burst(args: Record<string, unknown>): Promise<object> {
  const count = positiveInt(args.count, 'count');
  const concurrency = positiveInt(args.concurrency ?? 8, 'concurrency');
  const timeoutMs = positiveInt(args.timeoutMs ?? 3000, 'timeoutMs');
  const tally = new Tally();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      await newConnectionRequest(timeoutMs, tally);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return tally.snapshot();
}

async function probe(args: Record<string, unknown>): Promise<object> {
  const firstPort = positiveInt(args.firstPort, 'firstPort');
  const count = positiveInt(args.count, 'count');
  const concurrency = positiveInt(args.concurrency ?? 8, 'concurrency');
  const timeoutMs = positiveInt(args.timeoutMs ?? 3000, 'timeoutMs');
  if (firstPort + count > 65536) throw new Error('firstPort + count must stay within 65535');
  const tally = new Tally();
  const byPort: Record<string, string> = {};
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const localPort = firstPort + next++;
      const outcome = await newConnectionRequest(timeoutMs, tally, localPort);
      byPort[String(localPort)] = outcome.ok ? outcome.backend : `!${outcome.kind}`;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { ...tally.snapshot(), byPort };
}

interface Held {
  readonly id: number;
  readonly socket: Socket;
  localPort: number | undefined;
  dead: string | undefined;
}
const held: Held[] = [];

async function open(args: Record<string, unknown>): Promise<object> {
  const count = positiveInt(args.count, 'count');
  const timeoutMs = positiveInt(args.timeoutMs ?? 3000, 'timeoutMs');
  const opened = await Promise.all(
    Array.from({ length: count }, async () => {
      const socket = connect({ host, port });
      socket.setKeepAlive(true, 1000);
      const entry: Held = { id: held.length, socket, localPort: undefined, dead: undefined };
      held.push(entry);
      socket.on('error', (error) => (entry.dead ??= error.message));
      socket.on('close', () => (entry.dead ??= 'closed'));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          entry.dead ??= `connect timeout after ${String(timeoutMs)} ms`;
          resolve();
        }, timeoutMs);
        socket.once('connect', () => {
          clearTimeout(timer);
          entry.localPort = socket.localPort;
          resolve();
        });
        socket.once('error', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      return { id: entry.id, localPort: entry.localPort, dead: entry.dead };
    }),
  );
  return { connections: opened };
}

async function round(args: Record<string, unknown>): Promise<object> {
  const timeoutMs = positiveInt(args.timeoutMs ?? 3000, 'timeoutMs');
  const results = await Promise.all(
    held.map(async (entry) => {
      if (entry.dead !== undefined) return { id: entry.id, localPort: entry.localPort, ok: false, kind: 'dead', message: entry.dead };
      const outcome = await exchange(entry.socket, { host, close: false, timeoutMs });
      if (!outcome.ok) entry.dead = outcome.message;
      return { id: entry.id, localPort: entry.localPort, ...outcome };
    }),
  );
  return { results };
}

function closeAll(): object {
  for (const entry of held.splice(0)) entry.socket.destroy();
  return { closed: true };
}

let load: { tally: Tally; stop: boolean; done: Promise<unknown> } | undefined;

function startLoad(args: Record<string, unknown>): object {
  if (load) throw new Error('load already running');
  const concurrency = positiveInt(args.concurrency ?? 2, 'concurrency');
  const ratePerSecond = positiveInt(args.ratePerSecond ?? 100, 'ratePerSecond');
  const timeoutMs = positiveInt(args.timeoutMs ?? 3000, 'timeoutMs');
  const maxDurationMs = positiveInt(args.maxDurationMs ?? 300_000, 'maxDurationMs');
  // Each worker paces itself so the whole load stays near ratePerSecond.
  const intervalMs = (1000 * concurrency) / ratePerSecond;
  const state = { tally: new Tally(), stop: false, done: Promise.resolve() as Promise<unknown> };
  const stopAt = Date.now() + maxDurationMs;
  const worker = async (): Promise<void> => {
    while (!state.stop && Date.now() < stopAt) {
      const started = performance.now();
      await newConnectionRequest(timeoutMs, state.tally);
      const wait = intervalMs - (performance.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  };
  state.done = Promise.all(Array.from({ length: concurrency }, worker));
  load = state;
  return { started: true, intervalMs };
}

async function stopLoad(): Promise<object> {
  if (!load) throw new Error('no load running');
  const current = load;
  current.stop = true;
  await current.done;
  load = undefined;
  return current.tally.snapshot();
}

function positiveInt(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`);
  return value;
}

async function dispatch(op: unknown, args: Record<string, unknown>): Promise<object> {
  switch (op) {
    case 'burst':
      return burst(args);
    case 'probe':
      return probe(args);
    case 'open':
      return open(args);
    case 'round':
      return round(args);
    case 'closeAll':
      return closeAll();
    case 'startLoad':
      return startLoad(args);
    case 'loadStats':
      if (!load) throw new Error('no load running');
      return load.tally.snapshot();
    case 'stopLoad':
      return stopLoad();
    default:
      throw new Error(`unknown op ${JSON.stringify(op)}`);
  }
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  let id: unknown;
  void (async (): Promise<void> => {
    try {
      const message: unknown = JSON.parse(line);
      if (message === null || typeof message !== 'object') throw new Error('command must be a JSON object');
      const record = message as Record<string, unknown>;
      id = record.id;
      const result = await dispatch(record.op, record);
      process.stdout.write(`${JSON.stringify({ id, ok: true, result })}\n`);
    } catch (error) {
      process.stdout.write(`${JSON.stringify({ id, ok: false, error: error instanceof Error ? error.message : String(error) })}\n`);
    }
  })();
});
lines.on('close', () => {
  closeAll();
  process.exit(0);
});
process.stdout.write(`${JSON.stringify({ ready: true, host, port })}\n`);
