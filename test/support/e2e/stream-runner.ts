// Long-lived connections for the ECMP tests and bench-pps, run as one process
// in the client namespace: `node stream-runner.ts --host VIP --port 80
// --count N`. It opens N keep-alive HTTP connections and sends one request on
// each every 100 ms (the next only after the answer), and records per
// connection: the backend
// that answers (it must never change), failures (reset, close, 10 s without
// an answer: "broken"), the longest gap between two answers (the stall), and
// each request's latency (sent to answered) for p50/p99 since the last mark.
// --spread sends the connections' requests spread over the interval.
// Commands on stdin, one JSON line each, answered by one JSON line:
//   {"cmd":"stats"}   counters so far;  {"cmd":"mark"}  reset the longest gaps and latencies
//   {"cmd":"stop"}    close everything, answer with the final counters, exit
// Bounded: it exits by itself after --max-seconds.
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    port: { type: 'string', default: '80' },
    count: { type: 'string', default: '100' },
    'interval-ms': { type: 'string', default: '100' },
    'max-seconds': { type: 'string', default: '600' },
    spread: { type: 'boolean', default: false },
  },
});
const host = values.host ?? '';
const port = Number(values.port);
const count = Number(values.count);
const intervalMs = Number(values['interval-ms']);
const ANSWER_TIMEOUT_MS = 10_000;

interface Conn {
  readonly id: number;
  socket: Socket;
  localPort: number;
  backend: string | undefined;
  backendChanges: number;
  broken: string | undefined;
  sentAt: number | undefined;
  /** performance.now() at the send, for the latency (sentAt is wall clock, for gaps). */
  sentPerf: number;
  lastAnswerAt: number;
  maxGapMs: number;
  answers: number;
  /** Answered since the last mark (after a flood: is every connection still answering?). */
  answeredSinceMark: boolean;
  buffer: string;
}

const conns: Conn[] = [];
let opened = 0;
/** Request latencies (ms) since the last mark, all connections; bounded so a long run cannot grow it without limit. */
let latencies: number[] = [];
const MAX_LATENCIES = 200_000;

function open(id: number): Conn {
  const socket = connect({ host, port });
  socket.setNoDelay(true);
  const c: Conn = { id, socket, localPort: 0, backend: undefined, backendChanges: 0, broken: undefined, sentAt: undefined, sentPerf: 0, lastAnswerAt: 0, maxGapMs: 0, answers: 0, answeredSinceMark: false, buffer: '' };
  socket.setEncoding('utf8');
  socket.on('connect', () => {
    opened++;
    c.localPort = socket.localPort ?? 0;
    c.lastAnswerAt = Date.now();
  });
  socket.on('data', (chunk: string) => {
    c.buffer += chunk;
    for (;;) {
      const end = c.buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      const length = Number(/content-length: *(\d+)/i.exec(c.buffer.slice(0, end))?.[1] ?? 0);
      if (c.buffer.length < end + 4 + length) return;
      const body = c.buffer.slice(end + 4, end + 4 + length).trim();
      c.buffer = c.buffer.slice(end + 4 + length);
      const now = Date.now();
      c.maxGapMs = Math.max(c.maxGapMs, now - c.lastAnswerAt);
      c.lastAnswerAt = now;
      if (c.sentAt !== undefined && latencies.length < MAX_LATENCIES) latencies.push(performance.now() - c.sentPerf);
      c.sentAt = undefined;
      c.answers++;
      c.answeredSinceMark = true;
      if (c.backend !== undefined && c.backend !== body) c.backendChanges++;
      c.backend = body;
    }
  });
  const fail = (why: string): void => {
    if (c.broken === undefined && !stopping) c.broken = why;
  };
  socket.on('error', (e: NodeJS.ErrnoException) => fail(e.code ?? e.message));
  socket.on('close', () => fail('closed'));
  return c;
}

let stopping = false;
// --spread staggers the connections over the interval (a slice per tick), so
// latency is not that of 100 requests queued at once; by default all at once.
const slots = values.spread === true ? Math.max(1, Math.min(count, Math.floor(intervalMs))) : 1;
let tick = 0;
const ticker = setInterval(() => {
  const now = Date.now();
  const slot = tick++ % slots;
  for (const c of conns) {
    if (c.id % slots !== slot) continue;
    if (c.broken !== undefined || c.localPort === 0) continue;
    if (c.sentAt !== undefined) {
      if (now - c.sentAt > ANSWER_TIMEOUT_MS) {
        c.broken = 'timeout';
        c.socket.destroy();
      }
      continue;
    }
    c.sentAt = now;
    c.sentPerf = performance.now();
    c.socket.write(`GET /?c=${String(c.id)} HTTP/1.1\r\nhost: ${host}\r\n\r\n`);
  }
}, intervalMs / slots);

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

function stats(): object {
  const sorted = [...latencies].sort((a, b) => a - b);
  const broken = conns.filter((c) => c.broken !== undefined);
  const reasons: Record<string, number> = {};
  for (const c of broken) reasons[c.broken ?? ''] = (reasons[c.broken ?? ''] ?? 0) + 1;
  const byBackend: Record<string, number> = {};
  for (const c of conns) if (c.backend !== undefined) byBackend[c.backend] = (byBackend[c.backend] ?? 0) + 1;
  return {
    connections: conns.length,
    established: opened,
    answering: conns.filter((c) => c.answers > 0 && c.broken === undefined).length,
    answeredSinceMark: conns.filter((c) => c.answeredSinceMark && c.broken === undefined).length,
    broken: broken.length,
    reasons,
    backendChanges: conns.reduce((n, c) => n + c.backendChanges, 0),
    answers: conns.reduce((n, c) => n + c.answers, 0),
    maxStallMs: Math.max(0, ...conns.filter((c) => c.broken === undefined).map((c) => Math.max(c.maxGapMs, c.sentAt === undefined ? 0 : Date.now() - c.lastAnswerAt))),
    byBackend,
    stalledOver1s: conns.filter((c) => c.broken === undefined && Math.max(c.maxGapMs, c.sentAt === undefined ? 0 : Date.now() - c.lastAnswerAt) > 1000).length,
    latency: { requests: sorted.length, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), maxMs: sorted.at(-1) ?? 0 },
    localPorts: conns.map((c) => c.localPort),
  };
}

for (let i = 0; i < count; i++) conns.push(open(i));
const limit = setTimeout(() => process.exit(3), Number(values['max-seconds']) * 1000);

createInterface({ input: process.stdin }).on('line', (line) => {
  const { cmd } = JSON.parse(line) as { cmd: string };
  if (cmd === 'mark') {
    for (const c of conns) {
      c.maxGapMs = 0;
      c.answeredSinceMark = false;
    }
    latencies = [];
  }
  if (cmd === 'stop') {
    stopping = true;
    clearInterval(ticker);
    clearTimeout(limit);
    const final = stats();
    for (const c of conns) c.socket.destroy();
    process.stdout.write(`${JSON.stringify({ cmd, ...final })}\n`, () => process.exit(0));
    return;
  }
  process.stdout.write(`${JSON.stringify({ cmd, ...stats() })}\n`);
});
process.stdout.write('started\n');
