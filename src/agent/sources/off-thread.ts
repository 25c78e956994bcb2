// Loading manifests on a worker thread. Parsing and validating 51,712 YAML
// documents takes seconds of CPU; on the main thread that blocked /healthz
// (and a liveness probe would restart the agent mid-start). One worker per
// file source, started on first use, unref'd while idle.

import { Worker } from 'node:worker_threads';
import type { Labels } from '../../api/meta.ts';
import { readManifestTexts } from '../../compile/manifests.ts';
import { compileManifestTexts, type ManifestLoad } from './manifests.ts';

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

export interface OffThreadLoader {
  load(path: string, options: { node?: { name: string; labels: Labels } | undefined; unlessDigest?: string | undefined }): Promise<LoadResult>;
  close(): Promise<void>;
}

// The worker is this module's sibling: load-worker.ts from source (Node 24
// strips types), load-worker.js from dist/.
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './load-worker.ts' : './load-worker.js', import.meta.url);
/** A runtime that cannot load .ts in a worker (vitest under an older node) loads on this thread instead. */
const WORKERS_OK = !import.meta.url.endsWith('.ts') || Boolean((process.features as { typescript?: unknown }).typescript);

export function offThreadLoader(): OffThreadLoader {
  if (!WORKERS_OK) return inThreadLoader();
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
      w.ref();
      return new Promise<LoadResult>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        w.postMessage({ id, path, node: options.node, unlessDigest: options.unlessDigest } satisfies LoadRequest);
      });
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
      const texts = await readManifestTexts(path);
      if (texts.digest === options.unlessDigest) return { digest: texts.digest };
      return { digest: texts.digest, load: compileManifestTexts(texts, options.node === undefined ? {} : { node: options.node }) };
    },
    close: async () => undefined,
  };
}
