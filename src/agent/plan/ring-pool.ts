// Maglev rings built off the event loop. 512 VIPs x 65537 slots take seconds
// of CPU; built inside plan() on the main thread they held /healthz for that
// long on every cold start. The runtime asks the pool for the rings the cache
// lacks before it plans (RingCache.missing / addPrebuilt); plan() then only
// maps positions to real indices. One worker per CPU (at most 2), started on
// first use and unref'd while idle. Where workers cannot run, the rings are
// built on this thread, one per event-loop turn.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { siblingWorker } from '../../common/worker-url.ts';
import { buildRing, ringFingerprint } from './maglev.ts';
import type { PrebuiltRing, RingInput } from './rings.ts';

export interface RingRequest {
  readonly id: number;
  readonly size: number;
  readonly inputs: readonly RingInput[];
}

export type RingReply =
  | { readonly id: number; readonly rings: readonly ({ readonly key: string } & PrebuiltRing)[] }
  | { readonly id: number; readonly error: string };

export interface RingPool {
  /** Rings of `inputs` (ids sorted, as RingCache.missing lists them), by input key. */
  build(inputs: readonly RingInput[], size: number): Promise<Map<string, PrebuiltRing>>;
  close(): Promise<void>;
}

const WORKER_URL = siblingWorker(import.meta.url, 'ring-worker');

export function ringPool(options: { workers?: number } = {}): RingPool {
  const url = WORKER_URL;
  if (url === undefined) return inThreadPool();
  const count = Math.max(1, options.workers ?? Math.min(2, availableParallelism()));
  const workers: (Worker | undefined)[] = new Array<Worker | undefined>(count).fill(undefined);
  const pending = new Map<number, { worker: Worker; resolve: (r: RingReply) => void; reject: (e: Error) => void }>();
  let nextId = 1;

  const start = (slot: number): Worker => {
    const w = new Worker(url);
    const failAll = (err: Error): void => {
      workers[slot] = undefined;
      for (const [id, p] of pending) {
        if (p.worker !== w) continue;
        pending.delete(id);
        p.reject(err);
      }
    };
    w.on('message', (reply: RingReply) => {
      const p = pending.get(reply.id);
      if (p === undefined) return;
      pending.delete(reply.id);
      if (![...pending.values()].some((q) => q.worker === w)) w.unref();
      p.resolve(reply);
    });
    w.on('error', (err) => failAll(err));
    w.on('exit', (code) => failAll(new Error(`a Maglev ring worker thread exited (code ${String(code)})`)));
    return w;
  };

  const ask = (slot: number, size: number, inputs: readonly RingInput[]): Promise<RingReply> => {
    const w = (workers[slot] ??= start(slot));
    const id = nextId++;
    w.ref();
    return new Promise<RingReply>((resolve, reject) => {
      pending.set(id, { worker: w, resolve, reject });
      w.postMessage({ id, size, inputs } satisfies RingRequest);
    });
  };

  return {
    build: async (inputs, size) => {
      const out = new Map<string, PrebuiltRing>();
      if (inputs.length === 0) return out;
      // Round robin: neighbouring VIPs tend to have similar sizes.
      const chunks = Array.from({ length: Math.min(count, inputs.length) }, (_, c) => inputs.filter((_, i) => i % count === c));
      const replies = await Promise.all(chunks.map((chunk, slot) => ask(slot, size, chunk)));
      for (const reply of replies) {
        if ('error' in reply) throw new Error(`building Maglev rings failed in a worker thread: ${reply.error}`);
        for (const r of reply.rings) out.set(r.key, { positions: r.positions, fingerprint: r.fingerprint });
      }
      return out;
    },
    close: async () => {
      const all = workers.filter((w): w is Worker => w !== undefined);
      workers.fill(undefined);
      await Promise.all(all.map((w) => w.terminate()));
    },
  };
}

function inThreadPool(): RingPool {
  return {
    build: async (inputs, size) => {
      const out = new Map<string, PrebuiltRing>();
      for (const input of inputs) {
        const positions = buildRing(input.ids.map((id, i) => ({ id, weight: input.weights[i] ?? 0 })), size);
        out.set(input.key, { positions, fingerprint: ringFingerprint(positions, input.ids) });
        await new Promise((resolve) => setImmediate(resolve));
      }
      return out;
    },
    close: async () => undefined,
  };
}
