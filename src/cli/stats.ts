// `sterlet stats`: counters of the pinned balancer, as a table or JSON.

import { openPinnedBalancer } from '../agent/lifecycle.ts';
import { readLive } from '../agent/live.ts';
import { DEFAULT_BPFFS } from '../agent/pins.ts';
import { formatStats, readStats } from '../agent/stats.ts';
import { SterletError } from '../common/errors.ts';
import { parseFlags, type FlagSpec } from './args.ts';

export const STATS_FLAGS: readonly FlagSpec[] = [
  { name: 'bpffs', type: 'string', help: 'bpffs directory of the running agent', default: DEFAULT_BPFFS },
  { name: 'json', type: 'boolean', help: 'print JSON (numbers; vips, backends, counters, drops, lru)' },
];

export async function statsCommand(argv: readonly string[]): Promise<number> {
  const f = parseFlags('stats', argv, STATS_FLAGS);
  const bpffs = f.str('bpffs') ?? DEFAULT_BPFFS;
  const pinned = openPinnedBalancer(bpffs);
  if (pinned === undefined) throw notPinned(bpffs);
  try {
    const snapshot = readStats(pinned.maps, readLive(pinned.maps, pinned.limits), { maxVips: pinned.sizes.maxVips });
    process.stdout.write(f.bool('json') ? `${JSON.stringify(snapshot, null, 2)}\n` : `${formatStats(snapshot)}\n`);
    return 0;
  } finally {
    pinned.close();
  }
}

export function notPinned(bpffs: string): SterletError {
  return new SterletError('AGENT_NOT_RUNNING', `no balancer is pinned under ${bpffs}`, {
    why: 'sterlet agent pins its maps there on first start',
    fix: 'start the agent first, or pass the --bpffs it uses',
  });
}
