// The agent's control loop: consume desired states from a source, reconcile
// them into the dataplane one at a time, and keep re-syncing (maps read back
// and re-planned) so drift from any cause is repaired: level-based.
// A rejected or failing state never replaces the last good one.

import { errorText, isSterletError } from '../common/errors.ts';
import type { Log } from '../common/log.ts';
import { reconcileAsync, type DataplaneIO } from './plan/apply.ts';
import type { DesiredVip, Limits, LiveState } from './plan/model.ts';
import type { RingBuilder, RingFingerprinter } from './plan/rings.ts';
import { RingCache } from './plan/rings.ts';
import type { RingPool } from './plan/ring-pool.ts';
import { FreedReals } from './plan/reals.ts';
import type { DesiredStateSource, SourceProblem, VipHealthReport } from './sources/types.ts';
import type { Rejection } from './plan/admit.ts';

export type { Log } from '../common/log.ts';

export interface ApplyRecord {
  readonly ok: boolean;
  /** Sequence number of the desired state (1 = the first the source yielded; resyncs repeat the last). */
  readonly generation: number;
  readonly reason: ApplyReason;
  readonly durationMs: number;
  readonly vips: number;
  readonly writes: number;
  readonly attempts: number;
  /** VIPs and backends the plan left out (see plan/admit.ts), by code. */
  readonly rejected?: Readonly<Record<string, number>>;
  readonly error?: unknown;
}

/** Why an apply ran: a new state from the source, a periodic re-read, or a health change. */
export type ApplyReason = 'source' | 'resync' | 'health';

/**
 * Adjusts the source's desired state before it is programmed (health checks
 * take unhealthy backends out of the ring). The source's state stays the
 * "last good" one, so every re-apply starts from it again.
 */
export interface StateOverlay {
  apply(vips: readonly DesiredVip[]): readonly DesiredVip[];
  /** A state from the source was programmed (the prober re-targets its probes). */
  accepted?(vips: readonly DesiredVip[]): void;
  /** This node's health view of a VIP, reported to the source (cluster mode: LoadBalancerNode status). */
  report?(vipId: string): VipHealthReport | undefined;
}

export interface RuntimeOptions {
  readonly source: DesiredStateSource;
  readonly io: DataplaneIO;
  readonly limits: Limits;
  readonly buildRing: RingBuilder;
  readonly fingerprint?: RingFingerprinter;
  /** Builds the rings a plan needs off the event loop, as maglev.ts buildRing does (absent: plan() builds them on this thread). */
  readonly ringPool?: RingPool;
  readonly log: Log;
  /** Read the maps back and reconcile the last good state this often; 0 = never. Default 60 s. */
  readonly resyncMs?: number;
  /** Runs before each periodic resync (the agent re-resolves a discovered gateway MAC). */
  readonly beforeResync?: () => Promise<void>;
  /** Every apply attempt (metrics). */
  readonly onApply?: (record: ApplyRecord) => void;
  /** Called after an apply that wrote many entries (the agent returns freed memory to the OS). */
  readonly afterLargeApply?: () => void;
  /** A desired state arrived from the source, with its sequence number (metrics). */
  readonly onDesired?: (generation: number) => void;
  readonly overlay?: StateOverlay;
  /** Every state the source rejected (metrics). */
  readonly onRejected?: (problems: readonly SourceProblem[]) => void;
}

export class AgentRuntime {
  /** True once a desired state was applied successfully. */
  ready = false;
  readonly #o: RuntimeOptions;
  readonly #cache = new RingCache();
  /** Real indices in the order they were freed: reuse the one freed longest ago. */
  readonly #freed = new FreedReals();
  #live: LiveState | undefined;
  /** What was programmed before the cache was dropped: speeds up reading the maps back. */
  #hint: LiveState | undefined;
  #lastGood: readonly DesiredVip[] | undefined;
  /** The newest valid state from the source (applied or not). */
  #desired: readonly DesiredVip[] | undefined;
  /** The last good state without the VIPs left out of the dataplane. */
  #programmed: readonly DesiredVip[] = [];
  #received = 0;
  #lastGoodGeneration = 0;
  #fingerprints: ReadonlyMap<string, string> = new Map();
  #queue: Promise<void> = Promise.resolve();
  #lastRejected = '[]';

  constructor(options: RuntimeOptions) {
    this.#o = options;
  }

  /** The live state as last applied (undefined until the first apply, or after a failure). */
  get live(): LiveState | undefined {
    return this.#live;
  }

  /** VIP id -> Maglev ring fingerprint of what is programmed. */
  get fingerprints(): ReadonlyMap<string, string> {
    return this.#fingerprints;
  }

  /** The newest valid desired state the source yielded (undefined before the first). */
  get desired(): readonly DesiredVip[] | undefined {
    return this.#desired;
  }

  /** The desired state last applied successfully, without the VIPs left out (names VIPs and backends in stats and metrics). */
  get programmed(): readonly DesiredVip[] {
    return this.#programmed;
  }

  /** VIP id -> revision of what the last successful apply programmed (left-out VIPs are absent). */
  get programmedRevisions(): ReadonlyMap<string, string | undefined> {
    return new Map(this.#programmed.map((v) => [v.id, v.revision]));
  }

  /** Runs until `signal` aborts. The dataplane stays attached and programmed afterwards. */
  async run(signal: AbortSignal): Promise<void> {
    const resyncMs = this.#o.resyncMs ?? 60_000;
    const timer = resyncMs > 0 ? setInterval(() => void this.#periodic(), resyncMs) : undefined;
    try {
      for await (const event of this.#o.source.events(signal)) {
        if (event.kind === 'invalid') {
          this.#reject(event.origin, event.problems);
          continue;
        }
        this.#desired = event.vips;
        const generation = ++this.#received;
        this.#o.onDesired?.(generation);
        await this.#serial(() => this.#apply(event.vips, 'source', event.origin, generation));
      }
    } finally {
      clearInterval(timer);
      await this.#queue;
    }
  }

  async #periodic(): Promise<void> {
    try {
      await this.#o.beforeResync?.();
    } catch (err) {
      this.#o.log.warn({ err }, 'pre-resync step failed');
    }
    await this.resync();
  }

  /** Re-reads the maps and reconciles the last good state (repairs any drift). */
  resync(): Promise<void> {
    return this.#serial(async () => {
      if (this.#lastGood === undefined) return;
      this.#hint = this.#live;
      this.#live = undefined;
      await this.#apply(this.#lastGood, 'resync', 'resync', this.#lastGoodGeneration);
    });
  }

  /** Re-applies the last good state through the overlay (health changed); keeps the live cache. */
  reapply(): Promise<void> {
    return this.#serial(async () => {
      if (this.#lastGood === undefined) return;
      await this.#apply(this.#lastGood, 'health', 'health', this.#lastGoodGeneration);
    });
  }

  #serial(fn: () => void | Promise<void>): Promise<void> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #apply(vips: readonly DesiredVip[], reason: ApplyReason, origin: string, generation: number): Promise<void> {
    const { io, log } = this.#o;
    const started = performance.now();
    log.debug({ generation, origin, reason, vips: vips.length }, 'applying');
    try {
      const programmed = this.#o.overlay?.apply(vips) ?? vips;
      await this.#prebuildRings(programmed, origin);
      const result = await reconcileAsync(programmed, io, {
        limits: this.#o.limits,
        buildRing: this.#o.buildRing,
        ...(this.#o.fingerprint === undefined ? {} : { fingerprint: this.#o.fingerprint }),
        cache: this.#cache,
        freed: this.#freed,
        live: this.#live,
        hint: this.#hint,
        onRetry: (error, attempt) =>
          log.warn({ err: errorJson(error), attempt, origin }, `apply attempt ${attempt} failed; re-reading the maps and planning again`),
      });
      this.#live = result.live;
      this.#hint = undefined;
      // After the apply: probing 51,200 backends from the start slowed a cold start's apply (same CPU, same thread).
      if (reason === 'source') this.#o.overlay?.accepted?.(vips);
      this.#lastGood = vips;
      this.#lastGoodGeneration = generation;
      this.#fingerprints = result.fingerprints;
      // Only VIPs that were programmed name a key (a left-out duplicate must not relabel the winner's counters).
      const excluded = new Set(result.rejected.filter((r) => r.effect === 'VirtualIPExcluded').map((r) => r.id));
      this.#programmed = vips.filter((v) => !excluded.has(v.id));
      this.ready = true;
      const durationMs = Math.round((performance.now() - started) * 100) / 100;
      const changed = result.first.summaries.filter((s) => s.change !== 'unchanged');
      this.#logRejected(result.rejected, origin, reason);
      const fields = {
        generation,
        origin,
        reason,
        vips: vips.length,
        changes: result.writes,
        vipsChanged: changed.map((s) => `${s.change} ${s.id}`),
        attempts: result.attempts,
        durationMs,
      };
      if (reason === 'resync' && result.writes === 0) log.debug(fields, 'applied');
      else log.info(fields, 'applied');
      const rejectedByCode: Record<string, number> = {};
      for (const r of result.rejected) rejectedByCode[r.code] = (rejectedByCode[r.code] ?? 0) + 1;
      this.#o.onApply?.({ ok: true, generation, reason, durationMs, vips: vips.length, writes: result.writes, attempts: result.attempts, rejected: rejectedByCode });
      if (result.writes > 100_000 || reason === 'resync') this.#o.afterLargeApply?.();
      // A VIP left out (or programmed without a backend) carries its reason; the others report as programmed.
      const why = new Map<string, Rejection>();
      for (const r of result.rejected) if (!why.has(r.id) || r.effect === 'VirtualIPExcluded') why.set(r.id, r);
      void this.#o.source.report?.({
        ok: true,
        vips: vips.map((v) => {
          const r = why.get(v.id);
          if (r?.effect === 'VirtualIPExcluded') return { id: v.id, error: r.message, code: r.code };
          return { id: v.id, revision: v.revision, ringFingerprint: result.fingerprints.get(v.id), ...(r === undefined ? {} : { error: r.message, code: r.code }), ...this.#o.overlay?.report?.(v.id) };
        }),
      });
    } catch (error) {
      // Validation failures write nothing; apply failures were retried. Either
      // way the maps hold a consistent state; re-read them next time.
      this.#hint ??= this.#live;
      this.#live = undefined;
      const durationMs = performance.now() - started;
      log.error({ err: errorJson(error), origin, reason }, `apply failed, keeping the last good state: ${errorText(error)}`);
      this.#o.onApply?.({ ok: false, generation, reason, durationMs, vips: vips.length, writes: 0, attempts: 0, error });
      void this.#o.source.report?.({ ok: false, vips: [], error: errorText(error) });
    }
  }

  /** Rings the cache lacks, built by the pool; on failure plan() builds them here (slower, same rings). */
  async #prebuildRings(vips: readonly DesiredVip[], origin: string): Promise<void> {
    const pool = this.#o.ringPool;
    if (pool === undefined) return;
    const missing = this.#cache.missing(vips, this.#o.limits.ringSize);
    if (missing.length === 0) return;
    try {
      this.#cache.addPrebuilt(await pool.build(missing, this.#o.limits.ringSize));
    } catch (err) {
      this.#o.log.warn({ err: errorJson(err), origin, rings: missing.length }, 'building rings off the event loop failed; building them on it');
    }
  }

  /** Warns once per distinct set of rejections (resyncs repeat them). */
  #logRejected(rejected: readonly Rejection[], origin: string, reason: string): void {
    const text = JSON.stringify(rejected);
    if (text === this.#lastRejected) return;
    this.#lastRejected = text;
    if (rejected.length === 0) return;
    this.#o.log.warn(
      { origin, reason, rejected },
      `left out of the dataplane (everything else is programmed): ${rejected.map((r) => `${r.code} ${r.id}`).join(', ')}`,
    );
  }

  #reject(origin: string, problems: readonly SourceProblem[]): void {
    const first = problems[0];
    const text = first === undefined ? 'no details' : `${first.where}: ${first.message}`;
    this.#o.log.error(
      { origin, problems, code: first?.code ?? 'DESIRED_STATE_INVALID' },
      `desired state rejected, keeping the last good state: ${text}${problems.length > 1 ? ` (and ${problems.length - 1} more)` : ''}`,
    );
    this.#o.onRejected?.(problems);
  }
}

function errorJson(error: unknown): object {
  if (isSterletError(error)) return error.toJSON();
  return { message: errorText(error) };
}
