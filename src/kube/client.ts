// The one adapter over @kubernetes/client-node. client-node is used only to
// load a kubeconfig (or the in-cluster service account) and to turn it into TLS
// and auth options; requests and watches go through node:https here, so one
// small module owns timeouts, watch resumption, patch content types and error
// mapping for every kind (the generated clients would need per-call
// middleware for patches and one client class per API group). Everything else
// in Sterlet talks to the API through `KubeClient` and the resource descriptors below.

import http from 'node:http';
import https from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { SterletError } from '../common/errors.ts';

export type { ResourceRef } from './resources.ts';
import type { ResourceRef } from './resources.ts';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
}

/** Any object as the API server returns it; spec/status are parsed by their owners. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export interface ObjectList {
  metadata: { resourceVersion?: string; continue?: string };
  items: KubeObject[];
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent {
  readonly type: WatchEventType;
  readonly object: KubeObject;
}

export { Resources } from './resources.ts';

export interface PathOptions {
  readonly namespace?: string | undefined;
  readonly name?: string | undefined;
  readonly subresource?: string | undefined;
}

/** REST path of a collection, an object or a subresource. */
export function resourcePath(ref: ResourceRef, options: PathOptions = {}): string {
  let path = ref.group === '' ? `/api/${ref.version}` : `/apis/${ref.group}/${ref.version}`;
  if (ref.namespaced && options.namespace !== undefined) path += `/namespaces/${encodeURIComponent(options.namespace)}`;
  path += `/${ref.plural}`;
  if (options.name !== undefined) path += `/${encodeURIComponent(options.name)}`;
  if (options.subresource !== undefined) path += `/${options.subresource}`;
  return path;
}

/** `ns/name` for namespaced objects, `name` otherwise. */
export function objectKey(obj: { metadata: { name: string; namespace?: string } }): string {
  return obj.metadata.namespace === undefined ? obj.metadata.name : `${obj.metadata.namespace}/${obj.metadata.name}`;
}

/** A failed API call; `status` is the HTTP status (0 when the server was unreachable). */
export class KubeApiError extends SterletError {
  readonly status: number;
  readonly reason: string;

  constructor(status: number, reason: string, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(status === 0 ? 'KUBE_UNREACHABLE' : 'KUBE_API_ERROR', message, {
      why: status === 0 ? 'the API server did not answer' : `the API server answered ${status} ${reason}`,
      fix: status === 0
        ? 'check the kubeconfig server address and that the API server is running'
        : 'check RBAC and the object named in the message',
      ...(options.cause === undefined ? {} : { cause: options.cause }),
      details: { status, reason, ...options.details },
    });
    this.status = status;
    this.reason = reason;
  }
}

export function isNotFound(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 404;
}
export function isConflict(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 409;
}
export function isGone(err: unknown): boolean {
  return err instanceof KubeApiError && err.status === 410;
}

export interface KubeClientOptions {
  /** Path of a kubeconfig; absent = in-cluster when KUBERNETES_SERVICE_HOST is set, else $KUBECONFIG / ~/.kube/config. */
  readonly kubeconfig?: string | undefined;
  /** Per-request timeout for non-watch calls (default 15 s). */
  readonly timeoutMs?: number;
  readonly userAgent?: string;
}

export interface RequestOptions {
  readonly query?: Record<string, string | number | boolean | undefined>;
  readonly body?: unknown;
  readonly contentType?: string;
  readonly signal?: AbortSignal | undefined;
}

export interface WatchOptions {
  readonly resourceVersion?: string | undefined;
  readonly labelSelector?: string | undefined;
  readonly fieldSelector?: string | undefined;
  /** Server-side timeout; the server closes the watch cleanly after it. */
  readonly timeoutSeconds?: number;
  readonly signal?: AbortSignal | undefined;
}

const MERGE_PATCH = 'application/merge-patch+json';
const APPLY_PATCH = 'application/apply-patch+yaml';
/** How long TLS/auth options are reused before the (possibly rotated) token is read again. */
const AUTH_REFRESH_MS = 60_000;

/** A small typed REST client over one kubeconfig context. */
export class KubeClient {
  readonly server: URL;
  readonly #config: KubeConfig;
  readonly #timeoutMs: number;
  readonly #userAgent: string;
  #auth: { options: https.RequestOptions; agent: http.Agent; at: number; tls: string } | undefined;

  private constructor(config: KubeConfig, options: KubeClientOptions) {
    const cluster = config.getCurrentCluster();
    if (cluster === null) {
      throw new SterletError('KUBE_CONFIG_INVALID', 'the kubeconfig has no current cluster', {
        fix: 'pass --kubeconfig with a file whose current-context names a cluster',
      });
    }
    this.server = new URL(cluster.server);
    this.#config = config;
    this.#timeoutMs = options.timeoutMs ?? 15_000;
    this.#userAgent = options.userAgent ?? 'sterlet';
  }

  /** Loads the kubeconfig (or in-cluster config) and returns a client. */
  static create(options: KubeClientOptions = {}): KubeClient {
    const config = new KubeConfig();
    try {
      if (options.kubeconfig !== undefined) config.loadFromFile(options.kubeconfig);
      else if (process.env['KUBERNETES_SERVICE_HOST'] !== undefined) config.loadFromCluster();
      else config.loadFromDefault();
    } catch (err) {
      throw new SterletError('KUBE_CONFIG_INVALID', `cannot load the kubeconfig ${options.kubeconfig ?? '(default)'}`, {
        why: err instanceof Error ? err.message : String(err),
        fix: 'pass --kubeconfig PATH to a readable kubeconfig, or run in a pod with a service account',
        cause: err,
      });
    }
    return new KubeClient(config, options);
  }

  async #authOptions(): Promise<{ options: https.RequestOptions; agent: http.Agent }> {
    const now = Date.now();
    if (this.#auth !== undefined && now - this.#auth.at < AUTH_REFRESH_MS) return this.#auth;
    const options: https.RequestOptions = {};
    await this.#config.applyToHTTPSOptions(options);
    const { ca, cert, key, rejectUnauthorized, servername } = options;
    // `timeout` closes pooled sockets idle for 30 s, before a server or middlebox drops them silently.
    const tls: https.AgentOptions = { keepAlive: true, maxSockets: 64, timeout: 30_000 };
    if (ca !== undefined) tls.ca = ca;
    if (cert !== undefined) tls.cert = cert;
    if (key !== undefined) tls.key = key;
    if (rejectUnauthorized !== undefined) tls.rejectUnauthorized = rejectUnauthorized;
    if (servername !== undefined) tls.servername = servername;
    // Keep the connection pool (and the long-lived watches on it) unless the TLS
    // material itself changed; a rotated token only changes the headers. A
    // replaced pool is never destroyed: its requests and watches finish on it.
    const fingerprint = JSON.stringify([ca, cert, key, rejectUnauthorized, servername].map((v) => (v === undefined ? null : String(v))));
    const agent = this.#auth !== undefined && this.#auth.tls === fingerprint
      ? this.#auth.agent
      : this.server.protocol === 'https:' ? new https.Agent(tls) : new http.Agent({ keepAlive: true });
    const headers = { ...(options.headers as Record<string, string> | undefined) };
    const auth = options.auth;
    if (auth !== undefined && auth !== null) headers['authorization'] = `Basic ${Buffer.from(auth).toString('base64')}`;
    this.#auth = { options: { headers }, agent, at: now, tls: fingerprint };
    return this.#auth;
  }

  #url(path: string, query: RequestOptions['query']): URL {
    const base = this.server.pathname.replace(/\/$/, '');
    const url = new URL(base + path, this.server);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    return url;
  }

  async #open(method: string, url: URL, options: RequestOptions, timeoutMs: number): Promise<http.IncomingMessage> {
    try {
      return await this.#openOnce(method, url, options, timeoutMs);
    } catch (err) {
      // A pooled keep-alive socket the server had just closed: the request never
      // reached it, so sending it again on a fresh socket is safe (Node's advice).
      if (!(err instanceof KubeApiError) || !(err.cause as { reusedSocket?: boolean } | undefined)?.reusedSocket) throw err;
      return await this.#openOnce(method, url, options, timeoutMs);
    }
  }

  async #openOnce(method: string, url: URL, options: RequestOptions, timeoutMs: number): Promise<http.IncomingMessage> {
    const { options: auth, agent } = await this.#authOptions();
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = {
      ...(auth.headers as Record<string, string>),
      accept: 'application/json',
      'user-agent': this.#userAgent,
    };
    if (body !== undefined) {
      headers['content-type'] = options.contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const mod = url.protocol === 'https:' ? https : http;
    return await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = mod.request(url, { method, headers, agent, signal: options.signal }, resolve);
      if (timeoutMs > 0) {
        req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      }
      req.on('error', (err: NodeJS.ErrnoException & { reusedSocket?: boolean }) => {
        if (options.signal?.aborted === true) return reject(options.signal.reason ?? err);
        if (req.reusedSocket && err.code === 'ECONNRESET') err.reusedSocket = true;
        reject(new KubeApiError(0, 'Unreachable', `${method} ${url.pathname} failed: ${err.message}`, { cause: err }));
      });
      req.end(body);
    });
  }

  /** One JSON request; non-2xx answers become a KubeApiError carrying the server's message. */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const url = this.#url(path, options.query);
    const res = await this.#open(method, url, options, this.#timeoutMs);
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw apiError(method, url, status, text);
    return (text === '' ? {} : JSON.parse(text)) as T;
  }

  get(ref: ResourceRef, name: string, namespace?: string): Promise<KubeObject> {
    return this.request('GET', resourcePath(ref, { namespace, name }));
  }

  /** Lists every object (following `continue` pages); returns the list's resourceVersion. */
  async list(ref: ResourceRef, options: { namespace?: string; labelSelector?: string; fieldSelector?: string; signal?: AbortSignal } = {}): Promise<ObjectList> {
    const items: KubeObject[] = [];
    let cont: string | undefined;
    let resourceVersion: string | undefined;
    do {
      const page = await this.request<ObjectList>('GET', resourcePath(ref, { namespace: options.namespace }), {
        query: { limit: 500, continue: cont, labelSelector: options.labelSelector, fieldSelector: options.fieldSelector },
        signal: options.signal,
      });
      items.push(...page.items);
      cont = page.metadata.continue === '' ? undefined : page.metadata.continue;
      resourceVersion = page.metadata.resourceVersion;
    } while (cont !== undefined);
    return { metadata: resourceVersion === undefined ? {} : { resourceVersion }, items };
  }

  create(ref: ResourceRef, obj: KubeObject, namespace?: string): Promise<KubeObject> {
    return this.request('POST', resourcePath(ref, { namespace }), { body: obj });
  }

  /** Full replace; fails with 409 when metadata.resourceVersion is stale. */
  update(ref: ResourceRef, obj: KubeObject, options: { subresource?: string } = {}): Promise<KubeObject> {
    const path = resourcePath(ref, { namespace: obj.metadata.namespace, name: obj.metadata.name, subresource: options.subresource });
    return this.request('PUT', path, { body: obj });
  }

  /** JSON merge patch of the object (or of its status with subresource 'status'). */
  mergePatch(ref: ResourceRef, name: string, patch: unknown, options: { namespace?: string | undefined; subresource?: string } = {}): Promise<KubeObject> {
    const path = resourcePath(ref, { namespace: options.namespace, name, subresource: options.subresource });
    return this.request('PATCH', path, { body: patch, contentType: MERGE_PATCH });
  }

  /**
   * Server-side apply of `obj` (JSON is YAML) as `fieldManager`: sets only the fields it
   * names and needs no resourceVersion, so it never conflicts with a concurrent status
   * write; list-type-set fields such as metadata.finalizers merge per element.
   */
  apply(ref: ResourceRef, obj: KubeObject, fieldManager: string, options: { force?: boolean; subresource?: string } = {}): Promise<KubeObject> {
    const path = resourcePath(ref, { namespace: obj.metadata.namespace, name: obj.metadata.name, subresource: options.subresource });
    return this.request('PATCH', path, { body: obj, contentType: APPLY_PATCH, query: { fieldManager, force: options.force === true ? true : undefined } });
  }

  /** Merge-patches `status` only. */
  patchStatus(ref: ResourceRef, name: string, status: unknown, namespace?: string): Promise<KubeObject> {
    return this.mergePatch(ref, name, { status }, { namespace, subresource: 'status' });
  }

  delete(ref: ResourceRef, name: string, namespace?: string): Promise<unknown> {
    return this.request('DELETE', resourcePath(ref, { namespace, name }));
  }

  /**
   * One watch connection: calls `onEvent` per event and resolves when the server
   * closes the stream (timeoutSeconds elapsed). Rejects on HTTP errors (410 Gone
   * means the resourceVersion is too old: relist) and on broken connections.
   */
  async watch(ref: ResourceRef, options: WatchOptions & { namespace?: string }, onEvent: (event: WatchEvent) => void): Promise<void> {
    const url = this.#url(resourcePath(ref, { namespace: options.namespace }), {
      watch: true,
      allowWatchBookmarks: true,
      resourceVersion: options.resourceVersion,
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
      timeoutSeconds: options.timeoutSeconds ?? 300,
    });
    const res = await this.#open('GET', url, { signal: options.signal }, 0);
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      throw apiError('WATCH', url, status, Buffer.concat(chunks).toString('utf8'));
    }
    res.socket.setKeepAlive(true, 10_000);
    await consumeWatch(res, url, (options.timeoutSeconds ?? 300) + 30, options.signal, onEvent);
  }
}

/**
 * Reads newline-delimited watch events until the server ends the stream.
 * Every way a stream can stop (end, error, a destroyed socket, silence well
 * past the server-side timeout) settles the promise: a watch must never hang.
 */
function consumeWatch(res: http.IncomingMessage, url: URL, idleSeconds: number, signal: AbortSignal | undefined, onEvent: (event: WatchEvent) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let buffer = '';
    let settled = false;
    let idle: NodeJS.Timeout | undefined;
    const finish = (err?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      if (err === undefined || signal?.aborted === true) resolve();
      else reject(err instanceof KubeApiError ? err : new KubeApiError(0, 'Unreachable', `watch ${url.pathname} broke: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
      if (err !== undefined) res.destroy();
    };
    const arm = (): void => {
      clearTimeout(idle);
      // No RST ever arrives across a partition: silence well past the server's own timeout means a dead path.
      idle = setTimeout(() => finish(new Error(`no data for ${idleSeconds} s`)), idleSeconds * 1000);
    };
    arm();
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      arm();
      buffer += chunk;
      for (let nl = buffer.indexOf('\n'); nl >= 0 && !settled; nl = buffer.indexOf('\n')) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line === '') continue;
        try {
          const event = JSON.parse(line) as WatchEvent;
          if (event.type === 'ERROR') {
            const st = event.object as unknown as { code?: number; reason?: string; message?: string };
            finish(new KubeApiError(st.code ?? 500, st.reason ?? 'WatchError', `watch ${url.pathname}: ${st.message ?? 'error event'}`));
            return;
          }
          onEvent(event);
        } catch (err) {
          finish(err);
          return;
        }
      }
    });
    res.on('end', () => finish());
    res.on('error', (err) => finish(err));
    res.on('close', () => finish(res.complete ? undefined : new Error('connection closed early')));
  });
}

function apiError(method: string, url: URL, status: number, text: string): KubeApiError {
  let reason = http.STATUS_CODES[status] ?? 'Error';
  let message = text.slice(0, 500);
  try {
    const st = JSON.parse(text) as { reason?: string; message?: string };
    if (typeof st.reason === 'string' && st.reason !== '') reason = st.reason;
    if (typeof st.message === 'string') message = st.message;
  } catch {
    // not a Status object; keep the raw text
  }
  return new KubeApiError(status, reason, `${method} ${url.pathname}: ${message}`);
}
