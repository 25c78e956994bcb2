// A work queue of object keys with the semantics client-go made standard:
// a key queued twice is processed once; a key re-added while a worker holds it
// is processed again after that worker finishes (never concurrently); failures
// come back after a per-key exponential backoff that `forget` resets.

export interface WorkQueueOptions {
  /** First retry delay (default 100 ms). */
  readonly baseDelayMs?: number;
  /** Retry delay cap (default 60 s). */
  readonly maxDelayMs?: number;
  /** Called whenever the number of waiting keys changes. */
  readonly onDepth?: (depth: number) => void;
}

export class WorkQueue {
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #waiters: ((key: string | undefined) => void)[] = [];
  readonly #base: number;
  readonly #max: number;
  readonly #onDepth: ((depth: number) => void) | undefined;
  #shutdown = false;

  constructor(options: WorkQueueOptions = {}) {
    this.#base = options.baseDelayMs ?? 100;
    this.#max = options.maxDelayMs ?? 60_000;
    this.#onDepth = options.onDepth;
  }

  get depth(): number {
    return this.#queue.length;
  }

  /** Queues `key` now (no-op when it is already waiting). */
  add(key: string): void {
    if (this.#shutdown) return;
    if (this.#processing.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      this.#processing.add(key);
      waiter(key);
      return;
    }
    this.#queued.add(key);
    this.#queue.push(key);
    this.#onDepth?.(this.#queue.length);
  }

  /** Queues `key` after `ms` (the earliest pending delay wins). */
  addAfter(key: string, ms: number): void {
    if (this.#shutdown) return;
    if (ms <= 0) return this.add(key);
    if (this.#timers.has(key)) return;
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, ms);
    timer.unref();
    this.#timers.set(key, timer);
  }

  /** Queues `key` after its next backoff step; returns the delay used. */
  addRateLimited(key: string): number {
    const n = this.#failures.get(key) ?? 0;
    this.#failures.set(key, n + 1);
    const delay = Math.min(this.#max, this.#base * 2 ** n);
    this.addAfter(key, delay);
    return delay;
  }

  /** Clears the backoff of `key` (call after a successful reconcile). */
  forget(key: string): void {
    this.#failures.delete(key);
  }

  retries(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /**
   * Next key to process; undefined once the queue is shut down or `signal`
   * aborts while waiting. Call `done(key)` after processing it.
   */
  async get(signal?: AbortSignal): Promise<string | undefined> {
    if (this.#shutdown || signal?.aborted === true) return undefined;
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#queued.delete(key);
      this.#processing.add(key);
      this.#onDepth?.(this.#queue.length);
      return key;
    }
    return await new Promise((resolve) => {
      const waiter = (k: string | undefined): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(k);
      };
      const onAbort = (): void => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        resolve(undefined);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  /** Marks `key` finished; re-queues it when it was added meanwhile. */
  done(key: string): void {
    this.#processing.delete(key);
    if (this.#dirty.delete(key)) this.add(key);
  }

  /** Wakes every waiting worker with undefined and drops pending timers. */
  shutdown(): void {
    this.#shutdown = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    for (const w of this.#waiters.splice(0)) w(undefined);
  }
}
