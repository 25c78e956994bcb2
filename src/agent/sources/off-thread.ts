// Loading manifests on a worker thread. Parsing and validating 51,712 YAML
// documents takes seconds of CPU; on the main thread that blocked /healthz
// (and a liveness probe would restart the agent mid-start). One worker per
// file source, started on first use, unref'd while idle.

import { Worker } from 'node:worker_threads';
import { siblingWorker } from '../../common/worker-url.ts';
import type { Labels } from '../../api/meta.ts';
import type { ManifestLoad } from './manifests.ts';

export interface LoadRequest {
  readonly id: number;
  readonly path: string;
  readonly node?: { name: string; labels: Labels } | undefined;
  /** Skip parsing when the input's digest equals this. */
  readonly unlessDigest?: string | undefined;
}

export type LoadReply =
  | { readonly id: number; readonly digest: string; readonly load?: ManifestLoad }
  | { readonly id: number; readonly error: string };

export interface LoadResult {
  readonly digest: string;
  /** Absent when the input was unchanged (same digest). */
  readonly load?: ManifestLoad | undefined;
}

export interface LoadOptions {
  readonly node?: { name: string; labels: Labels } | undefined;
  readonly unlessDigest?: string | undefined;
  /** Do not keep the process alive for this load (a prefetch nobody may wait for); hold() does later. */
  readonly background?: boolean;
}

export interface OffThreadLoader {
  load(path: string, options: LoadOptions): Promise<LoadResult>;
  /** Keeps the process alive until the loads in flight finish (someone now waits for them). */
  hold(): void;
  close(): Promise<void>;
}

/** A first load started early (before the agent loads the rest of its modules and the dataplane), and its loader. */
export interface PrefetchedLoad {
  readonly path: string;
  readonly loader: OffThreadLoader;
  readonly first: Promise<LoadResult>;
}

/** Starts reading, parsing and compiling `path` on the worker thread now; fileSource takes the result as its first read. */
export function prefetchManifests(path: string): PrefetchedLoad {
  const loader = offThreadLoader();
  const first = loader.load(path, { background: true });
  // Seen by whoever consumes it; a prefetch nobody took must not be an unhandled rejection.
  first.catch(() => undefined);
  return { path, loader, first };
}

const WORKER_URL = siblingWorker(import.meta.url, 'load-worker');

export function offThreadLoader(): OffThreadLoader {
  if (WORKER_URL === undefined) return inThreadLoader();
  let worker: Worker | undefined;
  let nextId = 1;
  const pending = new Map<number, { resolve: (r: LoadResult) => void; reject: (e: Error) => void }>();

  const failAll = (err: Error): void => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
    worker = undefined;
  };

  const start = (): Worker => {
    const w = new Worker(WORKER_URL);
    w.on('message', (reply: LoadReply) => {
      const p = pending.get(reply.id);
      if (p === undefined) return;
      pending.delete(reply.id);
      if (pending.size === 0) w.unref();
      if ('error' in reply) p.reject(new Error(`loading manifests failed in the worker thread: ${reply.error}`));
      else p.resolve(reply.load === undefined ? { digest: reply.digest } : { digest: reply.digest, load: reply.load });
    });
    w.on('error', (err) => failAll(err));
    w.on('exit', (code) => failAll(new Error(`the manifest worker thread exited (code ${String(code)})`)));
    return w;
  };

  return {
    load: (path, options) => {
      worker ??= start();
      const w = worker;
      const id = nextId++;
      if (options.background === true) w.unref();
      else w.ref();
      return new Promise<LoadResult>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        w.postMessage({ id, path, node: options.node, unlessDigest: options.unlessDigest } satisfies LoadRequest);
      });
    },
    hold: () => {
      if (pending.size > 0) worker?.ref();
    },
    close: async () => {
      const w = worker;
      worker = undefined;
      if (w !== undefined) await w.terminate();
    },
  };
}

function inThreadLoader(): OffThreadLoader {
  return {
    load: async (path, options) => {
      const { readManifestTexts } = await import('../../compile/manifests.ts');
      const { compileManifestTexts } = await import('./manifests.ts');
      const texts = await readManifestTexts(path);
      if (texts.digest === options.unlessDigest) return { digest: texts.digest };
      return { digest: texts.digest, load: compileManifestTexts(texts, options.node === undefined ? {} : { node: options.node }) };
    },
    hold: () => undefined,
    close: async () => undefined,
  };
}
