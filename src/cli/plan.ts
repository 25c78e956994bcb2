// `sterlet plan --manifests PATH`: what applying these manifests would change
// in the pinned dataplane, per VIP. Reads only; writes nothing.

import { openPinnedBalancer } from '../agent/dataplane/startup.ts';
import { readLive } from '../agent/dataplane/maps-io.ts';
import { buildRing } from '../agent/plan/maglev.ts';
import { emptyLive } from '../agent/plan/model.ts';
import { DEFAULT_BPFFS } from '../agent/dataplane/pin-layout.ts';
import { AGENT_SIZES } from '../agent/dataplane/layout.ts';
import { plan } from '../agent/plan/plan.ts';
import { loadManifests } from '../agent/sources/manifests.ts';
import { formatSummaries } from '../agent/plan/summary.ts';
import { parseFlags, type FlagSpec } from './args.ts';

export const PLAN_FLAGS: readonly FlagSpec[] = [
  { name: 'manifests', type: 'string', short: 'm', help: 'YAML file or directory of VirtualIP/Backend manifests', required: true },
  { name: 'bpffs', type: 'string', short: 'b', help: 'bpffs directory of the running agent', default: DEFAULT_BPFFS },
  { name: 'ring-size', type: 'number', help: 'ring size to assume when nothing is pinned yet', default: AGENT_SIZES.ringSize },
  { name: 'max-vips', type: 'number', help: 'VIP capacity to assume when nothing is pinned yet', default: AGENT_SIZES.maxVips },
  { name: 'max-reals', type: 'number', help: 'real capacity to assume when nothing is pinned yet', default: AGENT_SIZES.maxReals },
  { name: 'json', type: 'boolean', short: 'j', help: 'print the summaries as JSON' },
];

export async function planCommand(argv: readonly string[]): Promise<number> {
  const f = parseFlags('plan', argv, PLAN_FLAGS);
  const load = await loadManifests(f.str('manifests') ?? '');
  if (!load.ok) {
    for (const p of load.problems) process.stderr.write(`${p.code}: ${p.where}: ${p.message}\n`);
    process.stderr.write('the manifests cannot be applied; nothing was planned\n');
    return 1;
  }
  const pinned = openPinnedBalancer(f.str('bpffs') ?? DEFAULT_BPFFS);
  try {
    const limits = pinned?.limits ?? { maxVips: f.num('max-vips') ?? 512, maxReals: f.num('max-reals') ?? 4096, ringSize: f.num('ring-size') ?? 65537 };
    const live = pinned === undefined ? emptyLive() : readLive(pinned.maps, pinned.limits);
    const p = plan(load.vips, live, { limits, buildRing });
    if (f.bool('json')) {
      process.stdout.write(`${JSON.stringify({ programmed: pinned !== undefined, writes: p.writes, vips: p.summaries, rejected: p.rejected }, null, 2)}\n`);
    } else {
      if (pinned === undefined) process.stdout.write(`nothing is pinned under ${f.str('bpffs')}: planning against an empty dataplane\n`);
      process.stdout.write(`${formatSummaries(p.summaries)}\n${p.writes} map entries would be written\n`);
      // Left out by the agent, everything else still planned (the agent reports these the same way).
      for (const r of p.rejected) process.stdout.write(`left out: ${r.code} ${r.id}: ${r.message}\n`);
    }
    return 0;
  } finally {
    pinned?.close();
  }
}
