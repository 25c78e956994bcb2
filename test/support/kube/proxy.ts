// A byte-level TCP proxy the tests can cut and restore, to make the API
// server unreachable for one client without stopping the shared control
// plane. Listens on a TCP port or a Unix socket and forwards to a TCP address
// or a Unix socket (a Unix socket crosses network namespaces, so an agent in a
// netns can reach the API server on the host's loopback through two of them).
// Also runnable: node proxy.ts LISTEN UPSTREAM (each "host:port" or a path).
import net from 'node:net';

export interface Endpoint { readonly host?: string; readonly port?: number; readonly path?: string }

export function parseEndpoint(text: string): Endpoint {
  const m = /^(.*):(\d+)$/.exec(text);
  return m === null ? { path: text } : { host: m[1] ?? '127.0.0.1', port: Number(m[2]) };
}

export class Proxy {
  readonly #server: net.Server;
  readonly #upstream: Endpoint;
  readonly #sockets = new Set<net.Socket>();
  #cut = false;

  private constructor(upstream: Endpoint) {
    this.#upstream = upstream;
    this.#server = net.createServer((client) => {
      if (this.#cut) {
        client.destroy();
        return;
      }
      const up = this.#upstream.path !== undefined ? net.connect(this.#upstream.path) : net.connect(this.#upstream.port ?? 0, this.#upstream.host);
      for (const s of [client, up]) {
        this.#sockets.add(s);
        s.on('close', () => this.#sockets.delete(s));
        s.on('error', () => { client.destroy(); up.destroy(); });
      }
      client.pipe(up);
      up.pipe(client);
    });
  }

  static async listen(listen: Endpoint, upstream: Endpoint): Promise<Proxy> {
    const p = new Proxy(upstream);
    await new Promise<void>((resolve, reject) => {
      p.#server.once('error', reject);
      if (listen.path !== undefined) p.#server.listen(listen.path, resolve);
      else p.#server.listen(listen.port ?? 0, listen.host ?? '127.0.0.1', resolve);
    });
    return p;
  }

  get port(): number {
    const a = this.#server.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  /** Drops every connection and refuses new ones, like an API server that went away. */
  cut(): void {
    this.#cut = true;
    for (const s of this.#sockets) s.destroy();
  }

  restore(): void {
    this.#cut = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

if (process.argv[1] !== undefined && import.meta.filename === process.argv[1]) {
  const [listen, upstream] = process.argv.slice(2);
  if (listen === undefined || upstream === undefined) {
    console.error('usage: proxy.ts LISTEN UPSTREAM (host:port or socket path)');
    process.exit(2);
  }
  await Proxy.listen(parseEndpoint(listen), parseEndpoint(upstream));
  console.log('listening');
}
