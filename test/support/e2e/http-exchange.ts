// One HTTP/1.1 GET over a raw TCP socket, parsed by hand. A raw socket (no
// http.Agent) makes every connection explicit: a "new connection" is really
// new, a keep-alive connection is never silently re-opened, and a reset is
// reported as a reset rather than retried.
import type { Socket } from 'node:net';

export type Outcome =
  | { readonly ok: true; readonly backend: string }
  | { readonly ok: false; readonly kind: FailureKind; readonly message: string };

/** reset = ECONNRESET (a backend without the flow answered RST); closed = FIN before a full answer. */
export type FailureKind = 'reset' | 'timeout' | 'refused' | 'closed' | 'http' | 'other';

export function classify(error: unknown): FailureKind {
  const code = error !== null && typeof error === 'object' && 'code' in error ? error.code : undefined;
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'reset';
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'refused';
  if (code === 'ETIMEDOUT') return 'timeout';
  return 'other';
}

/**
 * Sends `GET /` on a connected socket and resolves with the backend name in
 * the body. Never rejects. With close: true it asks the server to close.
 */
export function exchange(socket: Socket, options: { host: string; close: boolean; timeoutMs: number }): Promise<Outcome> {
  return new Promise((resolve) => {
    let buffered = Buffer.alloc(0);
    let settled = false;
    const finish = (outcome: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      resolve(outcome);
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const parsed = parseResponse(buffered);
      if (parsed === undefined) return;
      if (parsed.status !== 200) finish({ ok: false, kind: 'http', message: `HTTP ${String(parsed.status)}` });
      else finish({ ok: true, backend: parsed.body.trim() });
    };
    const onError = (error: Error): void => finish({ ok: false, kind: classify(error), message: error.message });
    const onEnd = (): void => finish({ ok: false, kind: 'closed', message: 'connection closed before a full response' });
    const timer = setTimeout(
      () => finish({ ok: false, kind: 'timeout', message: `no response within ${String(options.timeoutMs)} ms` }),
      options.timeoutMs,
    );
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    const connection = options.close ? 'close' : 'keep-alive';
    socket.write(`GET / HTTP/1.1\r\nHost: ${options.host}\r\nConnection: ${connection}\r\n\r\n`);
  });
}

/** Status and body once a complete Content-Length response is buffered, else undefined. */
export function parseResponse(buffer: Buffer): { status: number; body: string } | undefined {
  const headerEnd = buffer.indexOf('\r\n\r\n');
  if (headerEnd < 0) return undefined;
  const head = buffer.subarray(0, headerEnd).toString('latin1');
  const [statusLine, ...headers] = head.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1] ?? NaN);
  let length = 0;
  for (const header of headers) {
    const match = /^content-length:\s*(\d+)\s*$/i.exec(header);
    if (match?.[1] !== undefined) length = Number(match[1]);
  }
  const bodyStart = headerEnd + 4;
  if (buffer.length < bodyStart + length) return undefined;
  return { status, body: buffer.subarray(bodyStart, bodyStart + length).toString('utf8') };
}
