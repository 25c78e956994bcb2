// The agent's periodic count of flows left per backend: every interval it
// counts the connection tables (yielding, see dataplane/flows.ts), sets the
// metric, and hands the per-backend counts to the source when they changed,
// so node status is written only when a drain makes progress.

import { setTimeout as sleep } from 'node:timers/promises';
import type { BackendFlows } from '../../api/load-balancer-node.ts';
import { errorText } from '../../common/errors.ts';
import { flowReport, type FlowReport } from './flow-report.ts';
import { countFlows, type ConnectionTables } from './flows.ts';
import type { LiveState } from '../plan/model.ts';

interface Log {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface FlowWatchOptions {
  /** Opens the tables for one count (closed after it). */
  readonly tables: () => ConnectionTables;
  /** The live state to name reals by; undefined until the first apply (the count waits). */
  readonly live: () => LiveState | undefined;
  readonly intervalMs: number;
  readonly recentSeconds: number;
  /** Every count (metrics). */
  readonly onCount?: (report: FlowReport) => void;
  /** Only when the per-backend counts changed (node status). */
  readonly onChange?: (flows: BackendFlows) => void;
  readonly log?: Log;
}

/** Counts until `signal` aborts; errors are logged and the next interval tries again. */
export async function watchFlows(o: FlowWatchOptions, signal: AbortSignal): Promise<void> {
  let last = '';
  while (!signal.aborted) {
    try {
      await sleep(o.intervalMs, undefined, { signal });
    } catch {
      return; // aborted
    }
    const live = o.live();
    if (live === undefined) continue;
    let report: FlowReport;
    const tables = o.tables();
    try {
      report = flowReport(await countFlows(tables.tables, { recentSeconds: o.recentSeconds, signal }), live);
    } catch (err) {
      if (signal.aborted) return;
      o.log?.warn({ err: errorText(err) }, 'counting flows per backend failed; retrying next interval');
      continue;
    } finally {
      tables.close();
    }
    o.log?.debug({ entries: report.entries, tables: report.tables, ms: Math.round(report.durationMs) }, 'counted flows per backend');
    o.onCount?.(report);
    const flows = backendFlows(report);
    const key = JSON.stringify(flows.backends);
    if (key !== last) {
      last = key;
      o.onChange?.({ ...flows, changedTime: new Date().toISOString() });
    }
  }
}

/** The node-status form: backends by address (entries naming removed reals are left out), sorted. */
export function backendFlows(report: FlowReport): Omit<BackendFlows, 'changedTime'> {
  return {
    recentSeconds: report.recentSeconds,
    backends: report.backends.filter((b) => !b.backend.startsWith('real#')).map((b) => ({ address: b.backend, flows: b.flows, recent: b.recent })),
  };
}
