// The HTTP endpoints every long-running Sterlet process serves: /metrics
// (Prometheus text from a prom-client registry), /healthz (the process
// answers) and /readyz (the caller's readiness rule). One server for the
// agent, the controller and decap.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { errorText, SterletError } from './errors.ts';

/** "0.0.0.0:9464", "[::]:9464", ":9464" (empty host = every IPv4 address); undefined when it is not HOST:PORT. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (m === null || port > 65535) return undefined;
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

export interface EndpointsOptions {
  /** 0 picks a free port (see `port` on the result). */
  readonly port: number;
  readonly host?: string;
  readonly registry: Registry;
  /** The /readyz answer; a throw counts as not ready. */
  readonly ready: () => boolean;
  /** Aborting closes the server. */
  readonly signal?: AbortSignal;
  /** The flag that sets the address, named in the error when the port is taken. */
  readonly flag?: string;
}

export interface EndpointsServer {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

export async function startEndpoints(options: EndpointsOptions): Promise<EndpointsServer> {
  const { registry, ready } = options;
  const host = options.host ?? '0.0.0.0';
  const server = createServer((req, res) => void handle(req, res, registry, ready));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new SterletError('METRICS_LISTEN_FAILED', `cannot serve metrics on ${host}:${options.port}`, {
          why: errorText(err),
          fix: `pick a free port with ${options.flag ?? '--metrics-addr'} HOST:PORT (or stop the process holding it)`,
          cause: err,
        }),
      ),
    );
    server.listen(options.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }));
  if (options.signal?.aborted) await close();
  else options.signal?.addEventListener('abort', () => void close(), { once: true });
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return { port, url: `http://${shownHost}:${port}`, close };
}

async function handle(req: IncomingMessage, res: ServerResponse, registry: Registry, ready: () => boolean): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, 'method not allowed\n', { allow: 'GET, HEAD' });
  switch (path) {
    case '/metrics':
      try {
        return reply(res, 200, await registry.metrics(), { 'content-type': registry.contentType });
      } catch (err) {
        return reply(res, 500, `metrics collection failed: ${errorText(err)}\n`);
      }
    case '/healthz':
      return reply(res, 200, 'ok\n');
    case '/readyz': {
      let isReady = false;
      try {
        isReady = ready();
      } catch {
        isReady = false;
      }
      return isReady ? reply(res, 200, 'ready\n') : reply(res, 503, 'not ready\n');
    }
    default:
      return reply(res, 404, 'not found: try /metrics, /healthz or /readyz\n');
  }
}

function reply(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(body);
}
