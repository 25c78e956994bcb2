// apply: execute a plan's ops in order, batch by batch, through a DataplaneIO
// (the pinned maps in production, a model in unit tests). reconcile: plan +
// apply with retry to convergence: after a failed op the live maps are read
// back and planned again, so a half-done apply is finished, never abandoned.
// Because plan() orders ops safely, every intermediate state is servable.

import { SterletError, errorText } from '../../common/errors.ts';
import type { DesiredVip, LiveReal, LiveState, LiveVip, QuicEntry, Ring } from './model.ts';
import { planSteps, type Op, type Plan, type PlanOptions } from './plan.ts';
import type { FreedReals } from './reals.ts';
import type { Rejection } from './admit.ts';

/** What apply needs from the dataplane. Each call is one batch. */
export interface DataplaneIO {
  /**
   * Reads the maps back. `hint` (what the caller believes is programmed) lets
   * an implementation hand back the hint's ring arrays where the maps match
   * them, so a re-sync allocates nothing in the steady state.
   */
  readLive(hint?: LiveState): LiveState;
  deleteVips(vips: readonly LiveVip[]): void;
  putVips(vips: readonly LiveVip[]): void;
  deleteAddresses(addresses: readonly string[]): void;
  putAddresses(addresses: readonly string[]): void;
  putReals(reals: readonly LiveReal[]): void;
  deleteReals(indices: readonly number[]): void;
  /** `slots` undefined = the whole ring. */
  writeRing(vipIndex: number, ring: Ring, slots: Uint32Array | undefined): void;
  putQuic(entries: readonly QuicEntry[]): void;
  /** Deletes the entries' (VIP index, server id) keys. */
  deleteQuic(entries: readonly QuicEntry[]): void;
}

/** `freed` learns which real indices were deleted, in order (for FIFO reuse). */
export function executeOps(io: DataplaneIO, ops: readonly Op[], freed?: FreedReals): void {
  for (const _ of executeSteps(io, ops, freed));
}

/** executeOps one op at a time: pauses after each (reconcileAsync lets the event loop run there). */
function* executeSteps(io: DataplaneIO, ops: readonly Op[], freed?: FreedReals): Generator<void, void, void> {
  for (const op of ops) {
    yield;
    switch (op.kind) {
      case 'vip-remove':
        io.deleteVips(op.vips);
        break;
      case 'address-remove':
        io.deleteAddresses(op.addresses);
        break;
      case 'address-add':
        io.putAddresses(op.addresses);
        break;
      case 'quic-remove':
        io.deleteQuic(op.entries);
        break;
      case 'real-add':
        io.putReals(op.reals);
        break;
      case 'ring-write':
        io.writeRing(op.vipIndex, op.ring, op.slots);
        break;
      case 'vip-set':
        io.putVips(op.vips);
        break;
      case 'quic-set':
        io.putQuic(op.entries);
        break;
      case 'real-remove':
        io.deleteReals(op.indices);
        freed?.record(op.indices);
        break;
    }
  }
}

export interface ReconcileOptions extends PlanOptions {
  /** Live state known to match the maps (the cache); read from the maps when absent. */
  readonly live?: LiveState | undefined;
  /** When `live` is absent: what is probably programmed (speeds up the read-back). */
  readonly hint?: LiveState | undefined;
  /** Attempts before giving up (each re-reads the maps). Default 5. */
  readonly maxAttempts?: number;
  /** Called with each failed attempt's error before retrying. */
  readonly onRetry?: (error: unknown, attempt: number) => void;
}

export interface ReconcileResult {
  /** The plan of the first attempt (what `sterlet plan` would have shown). */
  readonly first: Plan;
  /** The live state now programmed. */
  readonly live: LiveState;
  readonly attempts: number;
  /** Map entries written or deleted over all attempts. */
  readonly writes: number;
  readonly fingerprints: ReadonlyMap<string, string>;
  /** What the last plan left out (see plan/admit.ts); the rest is programmed. */
  readonly rejected: readonly Rejection[];
}

export function reconcile(desired: readonly DesiredVip[], io: DataplaneIO, options: ReconcileOptions): ReconcileResult {
  const steps = reconcileSteps(desired, io, options);
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
  }
}

/**
 * reconcile, giving the event loop a turn whenever `sliceMs` passed since the
 * last one (between map operations; plan() itself runs in one piece). Every
 * intermediate state is servable, and the runtime applies one state at a time.
 */
export async function reconcileAsync(
  desired: readonly DesiredVip[],
  io: DataplaneIO,
  options: ReconcileOptions & { readonly sliceMs?: number },
): Promise<ReconcileResult> {
  const sliceMs = options.sliceMs ?? 20;
  const steps = reconcileSteps(desired, io, options);
  let since = performance.now();
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
    if (performance.now() - since >= sliceMs) {
      await new Promise((resolve) => setImmediate(resolve));
      since = performance.now();
    }
  }
}

function* reconcileSteps(desired: readonly DesiredVip[], io: DataplaneIO, options: ReconcileOptions): Generator<void, ReconcileResult, void> {
  const maxAttempts = options.maxAttempts ?? 5;
  let live = options.live ?? io.readLive(options.hint);
  yield;
  let first: Plan | undefined;
  let writes = 0;
  let lastError: unknown;
  let attempts = 0;
  let passes = 0;
  while (attempts < maxAttempts) {
    attempts++;
    // A VIP that cannot be programmed is left out by plan() and reported, never thrown.
    const p = yield* planSteps(desired, live, options);
    first ??= p;
    try {
      yield* executeSteps(io, p.ops, options.freed);
    } catch (error) {
      lastError = error;
      options.onRetry?.(error, attempts);
      live = io.readLive(live);
      continue;
    }
    writes += p.writes;
    live = p.expected;
    // A full real table frees indices in one pass and fills them in the next.
    if (p.deferred.length > 0) {
      if (passes++ < 2) {
        attempts--;
        continue;
      }
      throw new SterletError('AGENT_REALS_CAPACITY', `no real index for ${p.deferred.length} backend(s), e.g. ${p.deferred[0]}`, {
        why: 'the real table stayed full after the removals were applied',
        fix: 'raise --max-reals or serve fewer backends',
      });
    }
    return { first, live, attempts, writes, fingerprints: p.fingerprints, rejected: p.rejected };
  }
  throw new SterletError('AGENT_APPLY_FAILED', `applying the desired state failed ${maxAttempts} times`, {
    why: errorText(lastError),
    fix: 'check the agent log for the failing map and errno; the previous state stays programmed where the writes did not land',
    cause: lastError,
  });
}
