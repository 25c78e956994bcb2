// TCP checks at scale: connects on raw non-blocking sockets (libbpf/sockets.ts)
// reaped in batches by the prober's tick, instead of one net.Socket, three
// listeners, a timer and a promise per probe. Timeouts are FIFO queues, one
// per distinct timeout: probes start in time order, so each queue is ordered
// by deadline and expiring is O(expired). HTTP checks stay on probe.ts.

import { constants } from 'node:os';
import { openConnectPoller, type ConnectPoller } from '../../libbpf/sockets.ts';
import { errorText } from '../../common/errors.ts';
import type { ProbeResult } from './probe.ts';

const errnoNames = new Map<number, string>(Object.entries(constants.errno).map(([name, n]) => [n, name]));

/** The message probe.ts gives for the same failure ("connect ECONNREFUSED"), so both paths read alike. */
export function connectError(errno: number): string {
  return `connect ${errnoNames.get(errno) ?? `errno ${errno}`}`;
}

interface Pending<T> {
  readonly token: T;
  readonly fd: number;
  readonly started: number;
  readonly deadline: number;
  live: boolean;
}

interface TimeoutQueue<T> {
  items: Pending<T>[];
  head: number;
}

export class TcpProbes<T> {
  readonly #onResult: (token: T, result: ProbeResult) => void;
  #poller: ConnectPoller | undefined;
  /** Pending connects by fd (fds are small integers, reused after close). */
  readonly #byFd: (Pending<T> | undefined)[] = [];
  readonly #queues = new Map<number, TimeoutQueue<T>>();
  #inFlight = 0;

  constructor(onResult: (token: T, result: ProbeResult) => void) {
    this.#onResult = onResult;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Starts a connect; a failure at once (no route, no socket) is reported before this returns. */
  start(token: T, sockaddr: Buffer, mark: number | undefined, timeoutMs: number): void {
    const started = performance.now();
    let fd: number;
    try {
      this.#poller ??= openConnectPoller();
      fd = this.#poller.connect(sockaddr, mark);
    } catch (err) {
      this.#onResult(token, { ok: false, latencyMs: 0, error: errorText(err) });
      return;
    }
    if (fd < 0) {
      this.#onResult(token, { ok: false, latencyMs: performance.now() - started, error: connectError(-fd) });
      return;
    }
    const pending: Pending<T> = { token, fd, started, deadline: started + timeoutMs, live: true };
    this.#byFd[fd] = pending;
    let queue = this.#queues.get(timeoutMs);
    if (queue === undefined) this.#queues.set(timeoutMs, (queue = { items: [], head: 0 }));
    queue.items.push(pending);
    this.#inFlight++;
  }

  /** Reports finished connects and expired ones; returns how many finished (not expired). */
  poll(): number {
    if (this.#poller === undefined || this.#inFlight === 0) return 0;
    const done = this.#poller.poll((fd, errno, rttUs) => {
      const p = this.#byFd[fd];
      if (p === undefined || !p.live) return;
      this.#settle(p);
      const latencyMs = rttUs > 0 ? rttUs / 1000 : performance.now() - p.started;
      this.#onResult(p.token, errno === 0 ? { ok: true, latencyMs } : { ok: false, latencyMs, error: connectError(errno) });
    });
    const now = performance.now();
    for (const [timeoutMs, queue] of this.#queues) {
      const { items } = queue;
      while (queue.head < items.length) {
        const p = items[queue.head] as Pending<T>;
        if (p.live && p.deadline > now) break;
        queue.head++;
        if (!p.live) continue;
        this.#settle(p);
        this.#poller.abort(p.fd);
        this.#onResult(p.token, { ok: false, latencyMs: now - p.started, error: `timeout after ${timeoutMs} ms` });
      }
      if (queue.head === items.length) {
        items.length = 0;
        queue.head = 0;
      } else if (queue.head > 1024 && queue.head * 2 > items.length) {
        items.splice(0, queue.head);
        queue.head = 0;
      }
    }
    return done;
  }

  /** Abandons every connect in progress (no results) and releases the epoll instance; returns their tokens. */
  close(): T[] {
    const tokens: T[] = [];
    for (const p of this.#byFd) {
      if (p === undefined || !p.live) continue;
      this.#settle(p);
      this.#poller?.abort(p.fd);
      tokens.push(p.token);
    }
    this.#queues.clear();
    this.#poller?.close();
    this.#poller = undefined;
    return tokens;
  }

  #settle(p: Pending<T>): void {
    p.live = false;
    this.#byFd[p.fd] = undefined;
    this.#inFlight--;
  }
}
