// Leader election on a coordination.k8s.io/v1 Lease (client-node has no
// elector). The rules follow client-go's: a candidate takes the Lease when it
// is absent, released (no holder) or not renewed for leaseDuration as measured
// on OUR clock since we last saw it change (so clock skew between replicas does
// not matter); the holder renews every retryPeriod and steps down when it could
// not renew within renewDeadline, before anyone else may take over. Optimistic
// concurrency (resourceVersion) makes two candidates racing for it safe.

import type { Log } from '../common/log.ts';
import { isConflict, isNotFound, type KubeClient, type KubeObject, Resources } from './client.ts';
import { sleep } from '../common/delay.ts';

export interface LeaderElectionOptions {
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  /** Seconds a Lease stays valid without renewal (default 15). */
  readonly leaseDurationSeconds?: number;
  /** ms within which the leader must renew or step down (default 2/3 of the lease). */
  readonly renewDeadlineMs?: number;
  /** ms between attempts (default 1/7.5 of the lease, like client-go's 2 s of 15 s). */
  readonly retryPeriodMs?: number;
  readonly log?: Log;
}

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

/**
 * A MicroTime as the API expects it: RFC 3339 with exactly six fractional
 * digits, e.g. 2026-11-26T08:15:42.123456Z. Date has only milliseconds, so the
 * microseconds come from the high-resolution clock.
 */
export function microTime(epochMicros: bigint = nowMicros()): string {
  const ms = Number(epochMicros / 1000n);
  const iso = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const micros = (epochMicros % 1_000_000n).toString().padStart(6, '0');
  return `${iso.slice(0, 19)}.${micros}Z`;
}

export function nowMicros(): bigint {
  return BigInt(Math.floor((performance.timeOrigin + performance.now()) * 1000));
}

export class LeaderElector {
  readonly #client: KubeClient;
  readonly #opts: Required<Omit<LeaderElectionOptions, 'log'>>;
  readonly #log: LeaderElectionOptions['log'];
  /** The Lease record as last seen, and when (our monotonic clock) it last changed. */
  #observed: { record: string; at: number; obj: KubeObject | undefined } = { record: '', at: 0, obj: undefined };
  #leading = false;

  constructor(client: KubeClient, options: LeaderElectionOptions) {
    const lease = options.leaseDurationSeconds ?? 15;
    if (!Number.isInteger(lease) || lease < 1) throw new RangeError(`leaseDurationSeconds must be a positive integer, got ${lease}`);
    const renewDeadlineMs = options.renewDeadlineMs ?? Math.floor((lease * 1000 * 2) / 3);
    const retryPeriodMs = options.retryPeriodMs ?? Math.max(100, Math.floor((lease * 1000) / 7.5));
    if (renewDeadlineMs >= lease * 1000 || retryPeriodMs >= renewDeadlineMs) {
      throw new RangeError('need retryPeriod < renewDeadline < leaseDuration');
    }
    this.#client = client;
    this.#opts = { ...options, leaseDurationSeconds: lease, renewDeadlineMs, retryPeriodMs };
    this.#log = options.log;
  }

  get leading(): boolean {
    return this.#leading;
  }

  get identity(): string {
    return this.#opts.identity;
  }

  /**
   * Campaigns until elected, then calls `lead` with a signal that aborts when
   * leadership is lost; campaigns again afterwards. Releases the Lease when
   * `signal` aborts. Resolves only after `signal` aborts.
   */
  async run(signal: AbortSignal, lead: (leadership: AbortSignal) => Promise<void>, onChange?: (leading: boolean) => void): Promise<void> {
    while (!signal.aborted) {
      await this.#acquire(signal);
      if (signal.aborted) break;
      this.#leading = true;
      onChange?.(true);
      this.#log?.info({ lease: `${this.#opts.namespace}/${this.#opts.name}`, identity: this.#opts.identity }, 'became leader');
      const leadership = new AbortController();
      const onStop = (): void => leadership.abort(signal.reason);
      signal.addEventListener('abort', onStop, { once: true });
      const leading = lead(leadership.signal).catch((err: unknown) => {
        this.#log?.warn({ err }, 'leader work failed; stepping down');
        leadership.abort(err);
      });
      await this.#renewLoop(leadership.signal);
      leadership.abort(new Error('leadership lost'));
      signal.removeEventListener('abort', onStop);
      await leading;
      this.#leading = false;
      onChange?.(false);
      if (signal.aborted) await this.#release();
      else this.#log?.warn({ identity: this.#opts.identity }, 'lost leadership; campaigning again');
    }
  }

  async #acquire(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        if (await this.#tryAcquireOrRenew()) return;
      } catch (err) {
        this.#log?.debug({ err }, 'lease acquire attempt failed');
      }
      await sleep(this.#opts.retryPeriodMs * (1 + Math.random() * 0.2), signal);
    }
  }

  async #renewLoop(leadership: AbortSignal): Promise<void> {
    let lastRenew = performance.now();
    while (!leadership.aborted) {
      await sleep(this.#opts.retryPeriodMs, leadership);
      if (leadership.aborted) return;
      try {
        if (await this.#tryAcquireOrRenew()) {
          lastRenew = performance.now();
          continue;
        }
        return; // someone else holds it
      } catch (err) {
        this.#log?.debug({ err }, 'lease renew attempt failed');
      }
      if (performance.now() - lastRenew > this.#opts.renewDeadlineMs) {
        this.#log?.warn({ deadlineMs: this.#opts.renewDeadlineMs }, 'could not renew the lease in time');
        return;
      }
    }
  }

  /** One round: true when we hold the Lease afterwards. */
  async #tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity, leaseDurationSeconds } = this.#opts;
    const now = microTime();
    let current: KubeObject;
    try {
      current = await this.#client.get(Resources.lease, name, namespace);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      const spec: LeaseSpec = { holderIdentity: identity, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 };
      try {
        const created = await this.#client.create(Resources.lease, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec }, namespace);
        this.#observe(created);
        return true;
      } catch (createErr) {
        if (isConflict(createErr)) return false; // another candidate created it first
        throw createErr;
      }
    }
    this.#observe(current);
    const spec = (current['spec'] ?? {}) as LeaseSpec;
    const holder = spec.holderIdentity ?? '';
    const held = holder === identity;
    const durationMs = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    const expired = performance.now() - this.#observed.at > durationMs;
    if (!held && holder !== '' && !expired) return false;
    const next: LeaseSpec = {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds,
      renewTime: now,
      acquireTime: held ? (spec.acquireTime ?? now) : now,
      leaseTransitions: (spec.leaseTransitions ?? 0) + (held ? 0 : 1),
    };
    try {
      const updated = await this.#client.update(Resources.lease, { ...current, spec: next });
      this.#observe(updated);
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }

  #observe(obj: KubeObject): void {
    const spec = (obj['spec'] ?? {}) as LeaseSpec;
    const record = `${spec.holderIdentity ?? ''}|${spec.renewTime ?? ''}|${spec.leaseTransitions ?? 0}`;
    if (record !== this.#observed.record) this.#observed = { record, at: performance.now(), obj };
    else this.#observed.obj = obj;
  }

  /** Gives the Lease up so a standby takes over at once instead of after leaseDuration. */
  async #release(): Promise<void> {
    const obj = this.#observed.obj;
    if (obj === undefined) return;
    const spec = (obj['spec'] ?? {}) as LeaseSpec;
    if (spec.holderIdentity !== this.#opts.identity) return;
    const now = microTime();
    try {
      await this.#client.update(Resources.lease, {
        ...obj,
        spec: { ...spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: now },
      });
      this.#log?.info({ identity: this.#opts.identity }, 'released the lease');
    } catch (err) {
      this.#log?.warn({ err }, 'could not release the lease; it expires after its duration');
    }
  }
}
