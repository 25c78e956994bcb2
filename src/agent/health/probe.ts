// One probe: a TCP connect (or an HTTP GET over it) to VIP:port from a socket
// carrying the mark of the backend's tunnel. Never throws: every outcome,
// including "no route" and timeouts, is a result with a message.

import net from 'node:net';
import type { IpFamily } from '../../api/ip.ts';

export interface ProbeTarget {
  readonly type: 'TCP' | 'HTTP';
  /** The VIP address: the probe's destination inside the tunnel. */
  readonly address: string;
  readonly family: IpFamily;
  readonly port: number;
  readonly path?: string | undefined;
  readonly expectedStatus?: { readonly min: number; readonly max: number } | undefined;
  readonly timeoutMs: number;
}

export interface ProbeResult {
  readonly ok: boolean;
  readonly latencyMs: number;
  /** Why it failed, e.g. "connect ECONNREFUSED", "timeout after 1000 ms", "HTTP 503 (expected 200-399)". */
  readonly error?: string;
}

/** Creates the (marked) socket a probe uses; tests and the bench pass plain sockets. */
export type SocketFactory = (family: IpFamily) => net.Socket;

const MAX_RESPONSE_BYTES = 4096;

export function runProbe(target: ProbeTarget, socketFor: SocketFactory): Promise<ProbeResult> {
  const started = performance.now();
  return new Promise<ProbeResult>((resolve) => {
    let socket: net.Socket;
    let settled = false;
    const finish = (error?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const latencyMs = performance.now() - started;
      resolve(error === undefined ? { ok: true, latencyMs } : { ok: false, latencyMs, error });
    };
    const timer = setTimeout(() => finish(`timeout after ${target.timeoutMs} ms`), target.timeoutMs);
    try {
      socket = socketFor(target.family);
    } catch (err) {
      clearTimeout(timer);
      resolve({ ok: false, latencyMs: 0, error: err instanceof Error ? err.message : String(err) });
      return;
    }
    socket.on('error', (err: NodeJS.ErrnoException) => finish(`${err.syscall ?? 'socket'} ${err.code ?? err.message}`));
    socket.on('close', () => finish('connection closed before the check completed'));
    socket.connect({ host: target.address, port: target.port }, () => {
      if (target.type === 'TCP') return finish();
      const host = target.family === 'IPv6' ? `[${target.address}]` : target.address;
      socket.write(`GET ${target.path ?? '/'} HTTP/1.0\r\nHost: ${host}\r\nUser-Agent: sterlet-health\r\nConnection: close\r\n\r\n`);
      let head = '';
      socket.on('data', (chunk: Buffer) => {
        head += chunk.toString('latin1');
        const eol = head.indexOf('\r\n');
        if (eol < 0) {
          if (head.length > MAX_RESPONSE_BYTES) finish('HTTP response without a status line');
          return;
        }
        const m = /^HTTP\/\d(?:\.\d)? (\d{3})/.exec(head.slice(0, eol));
        if (m === null) return finish(`not an HTTP response: ${JSON.stringify(head.slice(0, Math.min(eol, 64)))}`);
        const status = Number(m[1]);
        const range = target.expectedStatus ?? { min: 200, max: 399 };
        finish(status >= range.min && status <= range.max ? undefined : `HTTP ${status} (expected ${range.min}-${range.max})`);
      });
    });
  });
}
