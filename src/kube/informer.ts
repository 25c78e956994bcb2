// A list+watch cache of one kind that never gives up: a broken watch resumes
// from the last resourceVersion, a 410 Gone relists (and reports the objects
// that changed or vanished while we were away), and an unreachable API server
// is retried with capped exponential backoff while the cache keeps serving the
// last known objects. Used by both the controller and the agent.

import { sleep } from '../common/delay.ts';
import type { Log } from '../common/log.ts';
import { isGone, KubeApiError, objectKey, type KubeClient, type KubeObject, type ResourceRef } from './client.ts';


export type InformerEvent = 'add' | 'update' | 'delete';
export type InformerHandler = (event: InformerEvent, obj: KubeObject, old: KubeObject | undefined) => void;

export interface InformerOptions {
  readonly namespace?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly log?: Log;
  /** Called for every change, after the cache is updated. */
  readonly onChange?: InformerHandler;
  /** Called whenever the connection state changes (true = watching). */
  readonly onConnected?: (connected: boolean) => void;
  /**
   * A kind the caller can do without: when the first list is refused (403/404)
   * the informer counts as synced with an empty cache (one warning), and keeps
   * retrying quietly in case the permission appears.
   */
  readonly optional?: boolean;
  /** Backoff bounds in ms (default 250 .. 10,000). */
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

export class Informer {
  readonly ref: ResourceRef;
  readonly #client: KubeClient;
  readonly #options: InformerOptions;
  readonly #cache = new Map<string, KubeObject>();
  #synced = false;
  #syncWaiters: (() => void)[] = [];
  #resourceVersion: string | undefined;
  #connected = false;

  constructor(client: KubeClient, ref: ResourceRef, options: InformerOptions = {}) {
    this.#client = client;
    this.ref = ref;
    this.#options = options;
  }

  get synced(): boolean {
    return this.#synced;
  }

  get connected(): boolean {
    return this.#connected;
  }

  /** Every cached object (a snapshot). */
  list(): KubeObject[] {
    return [...this.#cache.values()];
  }

  /** The cached object with key `ns/name` (or `name` for cluster-scoped kinds). */
  get(key: string): KubeObject | undefined {
    return this.#cache.get(key);
  }

  /**
   * Stores an object the caller just wrote (the API's response), so the next
   * reconcile sees its own write before the watch delivers it. Ignored when the
   * cache already holds a newer version.
   */
  upsert(obj: KubeObject): void {
    const key = objectKey(obj);
    const old = this.#cache.get(key);
    if (old !== undefined && !newer(obj, old)) return;
    this.#cache.set(key, obj);
  }

  /** Resolves once the first list is in the cache (or rejects when `signal` aborts). */
  async waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.#synced) return;
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(signal?.reason ?? new Error('aborted'));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#syncWaiters.push(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  /** Runs list+watch until `signal` aborts. Never rejects for API errors. */
  async run(signal: AbortSignal): Promise<void> {
    const min = this.#options.minBackoffMs ?? 250;
    const max = this.#options.maxBackoffMs ?? 10_000;
    let backoff = min;
    while (!signal.aborted) {
      try {
        if (this.#resourceVersion === undefined) await this.#relist(signal);
        this.#setConnected(true);
        backoff = min;
        // Randomised server-side timeout spreads reconnects of many agents.
        const timeoutSeconds = 240 + Math.floor(Math.random() * 120);
        await this.#client.watch(
          this.ref,
          {
            resourceVersion: this.#resourceVersion,
            timeoutSeconds,
            signal,
            ...(this.#options.namespace === undefined ? {} : { namespace: this.#options.namespace }),
            ...(this.#options.labelSelector === undefined ? {} : { labelSelector: this.#options.labelSelector }),
            ...(this.#options.fieldSelector === undefined ? {} : { fieldSelector: this.#options.fieldSelector }),
          },
          (ev) => this.applyEvent(ev.type, ev.object),
        );
      } catch (err) {
        if (signal.aborted) break;
        if (isGone(err)) {
          this.#options.log?.debug({ kind: this.ref.kind }, 'watch expired; relisting');
          this.#resourceVersion = undefined;
          continue;
        }
        this.#setConnected(false);
        const refused = err instanceof KubeApiError && (err.status === 403 || err.status === 404);
        if (this.#options.optional === true && refused) {
          if (!this.#synced) {
            this.#options.log?.warn({ kind: this.ref.kind, err }, 'cannot list this kind; continuing without it');
            this.#markSynced();
          }
          backoff = max;
        } else {
          this.#options.log?.warn({ kind: this.ref.kind, err, retryMs: backoff }, 'list/watch failed; retrying');
        }
        await sleep(backoff + Math.random() * backoff * 0.2, signal);
        backoff = Math.min(max, backoff * 2);
        // A watch that broke mid-stream can resume; a failed list relists.
      }
    }
    this.#setConnected(false);
  }

  #setConnected(value: boolean): void {
    if (this.#connected === value) return;
    this.#connected = value;
    this.#options.onConnected?.(value);
  }

  async #relist(signal: AbortSignal): Promise<void> {
    const list = await this.#client.list(this.ref, {
      signal,
      ...(this.#options.namespace === undefined ? {} : { namespace: this.#options.namespace }),
      ...(this.#options.labelSelector === undefined ? {} : { labelSelector: this.#options.labelSelector }),
      ...(this.#options.fieldSelector === undefined ? {} : { fieldSelector: this.#options.fieldSelector }),
    });
    const seen = new Set<string>();
    for (const obj of list.items) {
      seen.add(objectKey(obj));
      this.applyEvent('MODIFIED', obj);
    }
    for (const [key, old] of [...this.#cache]) {
      if (!seen.has(key)) this.applyEvent('DELETED', old);
    }
    this.#resourceVersion = list.metadata.resourceVersion;
    this.#markSynced();
  }

  #markSynced(): void {
    if (this.#synced) return;
    this.#synced = true;
    for (const w of this.#syncWaiters.splice(0)) w();
  }

  /** Applies one watch event to the cache and reports it (the watch calls this; tests feed events through it). */
  applyEvent(type: string, obj: KubeObject): void {
    const rv = obj.metadata.resourceVersion;
    if (type === 'BOOKMARK') {
      if (rv !== undefined) this.#resourceVersion = rv;
      return;
    }
    const key = objectKey(obj);
    const old = this.#cache.get(key);
    if (type === 'DELETED') {
      if (old === undefined) return;
      this.#cache.delete(key);
      if (rv !== undefined) this.#resourceVersion = rv;
      this.#options.onChange?.('delete', old, old);
      return;
    }
    if (rv !== undefined) this.#resourceVersion = rv;
    if (old !== undefined && !newer(obj, old)) return;
    this.#cache.set(key, obj);
    this.#options.onChange?.(old === undefined ? 'add' : 'update', obj, old);
  }
}

/**
 * resourceVersions are opaque by contract, but every API server backed by etcd
 * uses the etcd revision (a decimal integer). Comparing them when both are
 * numeric keeps a write-through copy from being replaced by an older event;
 * anything else counts as newer.
 */
function newer(obj: KubeObject, old: KubeObject): boolean {
  const a = obj.metadata.resourceVersion;
  const b = old.metadata.resourceVersion;
  if (a === b) return false;
  if (a !== undefined && b !== undefined && /^\d+$/.test(a) && /^\d+$/.test(b)) return BigInt(a) > BigInt(b);
  return true;
}
