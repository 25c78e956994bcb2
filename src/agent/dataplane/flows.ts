// Flows left per backend, for safe draining: connection-table entries (every
// per-CPU table and the fallback) counted by the real they name, and by the
// VIP they reach, with how many were seen within an idle threshold (entries
// carry their last-seen time). Read in batch chunks with a yield between
// slices, so counting 2 x 1M entries never blocks the agent's event loop for
// long.

import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { BpfMap } from '../../libbpf/libbpf.ts';
import type { BalancerMaps } from './loader.ts';
import { atimeAgeSeconds, atimeNow, Size } from './layout.ts';

export interface FlowTally {
  /** Entries naming this real. */
  flows: number;
  /** Of those, entries seen within the idle threshold. */
  recent: number;
  /** Age of the youngest entry (seconds since its last packet); null when none. */
  newestAgeSeconds: number | null;
}

export interface FlowCount {
  /** By real index. */
  readonly byReal: ReadonlyMap<number, FlowTally>;
  /** By destination (flow key bytes 16..38: address, port, protocol, family), then real index; only with `byDestination`. */
  readonly byDestination: ReadonlyMap<string, ReadonlyMap<number, FlowTally>>;
  readonly entries: number;
  readonly tables: number;
  readonly recentSeconds: number;
  readonly durationMs: number;
  /** Longest stretch the count held the event loop (ms). */
  readonly longestSliceMs: number;
}

export interface CountFlowsOptions {
  /** An entry seen within this many seconds is recent. */
  readonly recentSeconds: number;
  /** Also group by VIP destination (for `sterlet stats`; slower). Default false. */
  readonly byDestination?: boolean;
  /** Entries per BPF_MAP_LOOKUP_BATCH call. Default 8192. */
  readonly chunk?: number;
  /** Yield to the event loop after this many ms of work. Default 10. */
  readonly sliceMs?: number;
  /** The dataplane clock in atime units (tests). Default now. */
  readonly now?: number;
  readonly signal?: AbortSignal;
}

export interface ConnectionTables {
  /** The per-CPU tables conn_tables names, then the fallback. */
  readonly tables: readonly BpfMap[];
  /** Closes the per-CPU tables opened here (the fallback belongs to `maps`). */
  close(): void;
}

/** The connection tables the program uses, opened by id from conn_tables. */
export function openConnectionTables(maps: Pick<BalancerMaps, 'connTables' | 'fallbackLru'>): ConnectionTables {
  const opened: BpfMap[] = [];
  const close = (): void => {
    for (const t of opened) t.close();
  };
  try {
    for (const [, value] of maps.connTables.entries()) {
      const id = value.readUInt32LE(0);
      if (id !== 0) opened.push(BpfMap.fromId(id));
    }
  } catch (err) {
    close();
    throw err;
  }
  return { tables: [...opened, maps.fallbackLru], close };
}

/** Counts the entries of `tables` per real (and per destination when asked). */
export async function countFlows(tables: readonly BpfMap[], options: CountFlowsOptions): Promise<FlowCount> {
  const started = performance.now();
  const now = options.now ?? atimeNow();
  const sliceMs = options.sliceMs ?? 10;
  const byReal = new Map<number, FlowTally>();
  const byDestination = new Map<string, Map<number, FlowTally>>();
  let entries = 0;
  let sliceStart = performance.now();
  let longestSliceMs = 0;
  for (const table of tables) {
    for (const part of table.batches(options.chunk ?? 8192)) {
      for (let i = 0; i < part.count; i++) {
        const real = part.values.readUInt32LE(i * Size.lruVal);
        const age = atimeAgeSeconds(part.values.readUInt32LE(i * Size.lruVal + 4), now);
        tally(byReal, real, age, options.recentSeconds);
        if (options.byDestination === true) {
          const at = i * Size.flowKey;
          const dest = part.keys.toString('latin1', at + 16, at + 32) + part.keys.toString('latin1', at + 34, at + 38);
          let perReal = byDestination.get(dest);
          if (perReal === undefined) byDestination.set(dest, (perReal = new Map()));
          tally(perReal, real, age, options.recentSeconds);
        }
      }
      entries += part.count;
      const spent = performance.now() - sliceStart;
      if (spent >= sliceMs) {
        longestSliceMs = Math.max(longestSliceMs, spent);
        options.signal?.throwIfAborted();
        await yieldToLoop();
        sliceStart = performance.now();
      }
    }
  }
  longestSliceMs = Math.max(longestSliceMs, performance.now() - sliceStart);
  return { byReal, byDestination, entries, tables: tables.length, recentSeconds: options.recentSeconds, durationMs: performance.now() - started, longestSliceMs };
}

function tally(into: Map<number, FlowTally>, real: number, age: number, recentSeconds: number): void {
  let t = into.get(real);
  if (t === undefined) into.set(real, (t = { flows: 0, recent: 0, newestAgeSeconds: null }));
  t.flows++;
  if (age <= recentSeconds) t.recent++;
  if (t.newestAgeSeconds === null || age < t.newestAgeSeconds) t.newestAgeSeconds = age;
}

/** Sums tallies (e.g. one real's flows over every VIP). */
export function addTally(a: FlowTally | undefined, b: FlowTally): FlowTally {
  if (a === undefined) return { ...b };
  const ages = [a.newestAgeSeconds, b.newestAgeSeconds].filter((x): x is number => x !== null);
  return { flows: a.flows + b.flows, recent: a.recent + b.recent, newestAgeSeconds: ages.length === 0 ? null : Math.min(...ages) };
}
