// Long-lived connections for the ECMP tests, run as one process in the client
// namespace: `node stream-runner.ts --host VIP --port 80 --count N`. It opens N
// keep-alive HTTP connections and sends one request on each every 100 ms
// (the next only after the answer), and records per connection: the backend
// that answers (it must never change), failures (reset, close, 10 s without
// an answer: "broken"), and the longest gap between two answers (the stall).
// Commands on stdin, one JSON line each, answered by one JSON line:
//   {"cmd":"stats"}   counters so far;  {"cmd":"mark"}  reset the longest gaps
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
  lastAnswerAt: number;
  maxGapMs: number;
  answers: number;
  buffer: string;
}

const conns: Conn[] = [];
let opened = 0;

function open(id: number): Conn {
  const socket = connect({ host, port });
  socket.setNoDelay(true);
  const c: Conn = { id, socket, localPort: 0, backend: undefined, backendChanges: 0, broken: undefined, sentAt: undefined, lastAnswerAt: 0, maxGapMs: 0, answers: 0, buffer: '' };
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
      c.sentAt = undefined;
      c.answers++;
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
const ticker = setInterval(() => {
  const now = Date.now();
  for (const c of conns) {
    if (c.broken !== undefined || c.localPort === 0) continue;
    if (c.sentAt !== undefined) {
      if (now - c.sentAt > ANSWER_TIMEOUT_MS) {
        c.broken = 'timeout';
        c.socket.destroy();
      }
      continue;
    }
    c.sentAt = now;
    c.socket.write(`GET /?c=${String(c.id)} HTTP/1.1\r\nhost: ${host}\r\n\r\n`);
  }
}, intervalMs);

function stats(): object {
  const broken = conns.filter((c) => c.broken !== undefined);
  const reasons: Record<string, number> = {};
  for (const c of broken) reasons[c.broken ?? ''] = (reasons[c.broken ?? ''] ?? 0) + 1;
  const byBackend: Record<string, number> = {};
  for (const c of conns) if (c.backend !== undefined) byBackend[c.backend] = (byBackend[c.backend] ?? 0) + 1;
  return {
    connections: conns.length,
    established: opened,
    answering: conns.filter((c) => c.answers > 0 && c.broken === undefined).length,
    broken: broken.length,
    reasons,
    backendChanges: conns.reduce((n, c) => n + c.backendChanges, 0),
    answers: conns.reduce((n, c) => n + c.answers, 0),
    maxStallMs: Math.max(0, ...conns.filter((c) => c.broken === undefined).map((c) => Math.max(c.maxGapMs, c.sentAt === undefined ? 0 : Date.now() - c.lastAnswerAt))),
    byBackend,
    localPorts: conns.map((c) => c.localPort),
  };
}

for (let i = 0; i < count; i++) conns.push(open(i));
const limit = setTimeout(() => process.exit(3), Number(values['max-seconds']) * 1000);

createInterface({ input: process.stdin }).on('line', (line) => {
  const { cmd } = JSON.parse(line) as { cmd: string };
  if (cmd === 'mark') for (const c of conns) c.maxGapMs = 0;
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
