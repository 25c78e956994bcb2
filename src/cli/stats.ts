// `sterlet stats`: counters of the pinned balancer, as a table or JSON; with
// --decap (or --bpffs naming a decap directory) those of the decap program.

import { existsSync } from 'node:fs';
import { BpfMap } from '../libbpf/libbpf.ts';
import { openPinnedBalancer } from '../agent/dataplane/startup.ts';
import { countFlows, openConnectionTables } from '../agent/dataplane/flows.ts';
import { flowReport, formatFlows } from '../agent/dataplane/flow-report.ts';
import { readLive } from '../agent/dataplane/maps-io.ts';
import { balancerPins, checkBpffs, DEFAULT_BPFFS, DEFAULT_DECAP_BPFFS, decapPins, isComplete } from '../agent/dataplane/pin-layout.ts';
import { NAMES_DIR, namesFilePath, readNamesFile } from '../agent/dataplane/names-file.ts';
import { formatDecapStats, formatStats, readDecapStats, readStats } from '../agent/dataplane/stats.ts';
import { formatHealth } from '../agent/health/format.ts';
import { healthFilePath, readHealthFile } from '../agent/health/snapshot-file.ts';
import { SterletError } from '../common/errors.ts';
import { UsageError, parseFlags, type FlagSpec } from './args.ts';

export const STATS_FLAGS: readonly FlagSpec[] = [
  { name: 'bpffs', type: 'string', short: 'b', help: `bpffs directory of the running agent (with --decap: default ${DEFAULT_DECAP_BPFFS})`, default: DEFAULT_BPFFS },
  { name: 'decap', type: 'boolean', help: 'show the decap program\'s counters (automatic when --bpffs is a decap directory)' },
  { name: 'json', type: 'boolean', short: 'j', help: 'print JSON (numbers; vips, backends, counters, drops, lru, flows; with --decap: counters)' },
  { name: 'names-file', type: 'string', help: `the agent's VIP/Backend names (default ${NAMES_DIR}/<bpffs>.names.json, as the agent writes it)` },
  { name: 'recent', type: 'number', help: 'a flow seen within this many seconds counts as recent (flows per backend)', default: 60 },
  { name: 'health-file', type: 'string', help: 'the agent\'s health view (default: /run/sterlet/<bpffs path>.health.json, as the agent writes it)' },
];

export async function statsCommand(argv: readonly string[]): Promise<number> {
  const f = parseFlags('stats', argv, STATS_FLAGS);
  const decap = f.bool('decap');
  const bpffs = decap && !f.has('bpffs') ? DEFAULT_DECAP_BPFFS : (f.str('bpffs') ?? DEFAULT_BPFFS);
  checkBpffs(bpffs);
  // A decap directory holds decap_cfg and no balancer settings pin.
  if (decap || (isComplete(decapPins(bpffs)) && !isComplete(balancerPins(bpffs)))) return decapStats(bpffs, f.bool('json'));
  const pinned = openPinnedBalancer(bpffs);
  if (pinned === undefined) throw notPinned(bpffs);
  try {
    const live = readLive(pinned.maps, pinned.limits);
    const names = readNamesFile(f.str('names-file') ?? namesFilePath(bpffs));
    const snapshot = readStats(pinned.maps, live, { maxVips: pinned.sizes.maxVips, names });
    const tables = openConnectionTables(pinned.maps);
    let flows;
    try {
      const count = await countFlows(tables.tables, { recentSeconds: recentSeconds(f.num('recent')), byDestination: true });
      flows = flowReport(count, live, new Map(Object.entries(names?.vips ?? {})));
    } finally {
      tables.close();
    }
    const health = readHealthFile(f.str('health-file') ?? healthFilePath(bpffs));
    if (f.bool('json')) process.stdout.write(`${JSON.stringify({ ...snapshot, flows, ...(health === undefined ? {} : { health }) }, null, 2)}\n`);
    else process.stdout.write(`${formatStats(snapshot)}\n\n${formatFlows(flows)}\n${health === undefined ? '' : `\n${formatHealth(health)}\n`}`);
    return 0;
  } finally {
    pinned.close();
  }
}

function decapStats(bpffs: string, json: boolean): number {
  const pins = decapPins(bpffs);
  if (!isComplete(pins) || !existsSync(pins.map('stats'))) throw decapNotPinned(bpffs);
  const stats = BpfMap.fromPinned(pins.map('stats'));
  try {
    const snapshot = readDecapStats(stats);
    process.stdout.write(json ? `${JSON.stringify(snapshot, null, 2)}\n` : `${formatDecapStats(snapshot)}\n`);
    return 0;
  } finally {
    stats.close();
  }
}

function recentSeconds(n: number | undefined): number {
  if (n === undefined || !Number.isFinite(n) || n < 0) throw new UsageError(`--recent ${String(n)} is not a number of seconds`, 'pass seconds >= 0, e.g. --recent 60');
  return n;
}

export function decapNotPinned(bpffs: string): SterletError {
  return new SterletError('DECAP_NOT_RUNNING', `no decap program is pinned under ${bpffs}`, {
    why: 'sterlet decap pins its maps there when it attaches',
    fix: 'run sterlet decap first, or pass the --bpffs it uses',
  });
}

export function notPinned(bpffs: string): SterletError {
  return new SterletError('AGENT_NOT_RUNNING', `no balancer is pinned under ${bpffs}`, {
    why: 'sterlet agent pins its maps there on first start',
    fix: 'start the agent first, or pass the --bpffs it uses',
  });
}
