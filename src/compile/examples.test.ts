// The examples users apply first must parse and compile without a problem,
// standalone and under the example pool.
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compile } from './compile.ts';
import { readManifests } from './manifests.ts';
import type { VirtualIPPool } from '../api/virtual-ip-pool.ts';

const EXAMPLES = ['basic', 'weights-and-drain', 'ipv6', 'v4-vip-v6-backends', 'gue', 'quic', 'health-checks'];
const path = (name: string): string => fileURLToPath(new URL(`../../examples/${name}.yaml`, import.meta.url));

describe('examples/', () => {
  it.each(EXAMPLES)('%s.yaml parses and compiles to served VIPs with no problem', async (name) => {
    const set = await readManifests(path(name));
    expect(set.errors).toEqual([]);
    const { state, problems } = compile(set.objects);
    expect(problems).toEqual([]);
    expect(state.vips.length).toBeGreaterThan(0);
    for (const vip of state.vips) expect(vip.backends.length).toBeGreaterThan(0);
  });

  it('all examples together: no conflicts, each admitted by examples/pool.yaml', async () => {
    const sets = await Promise.all([...EXAMPLES, 'pool'].map((n) => readManifests(path(n))));
    const objects = sets.flatMap((s) => s.objects);
    const pools = objects.filter((o): o is VirtualIPPool => o.kind === 'VirtualIPPool');
    expect(pools).toHaveLength(1);
    const namespaceLabels = new Map([['default', { 'kubernetes.io/metadata.name': 'default' }]]);
    const { state, problems, admittedBy } = compile(objects, { admission: { mode: 'Pools', pools, namespaceLabels } });
    expect(problems).toEqual([]);
    expect(state.vips.map((v) => v.id)).toEqual(['default/api', 'default/cache', 'default/h3', 'default/shop', 'default/status', 'default/web', 'default/web6']);
    expect(new Set(admittedBy.values())).toEqual(new Set(['examples']));
  });

  it('bgp.yaml is a valid BGPPeer', async () => {
    const set = await readManifests(path('bgp'));
    expect(set.errors).toEqual([]);
    expect(set.objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(['BGPPeer/tor-a']);
  });

  it('weights-and-drain keeps the drained backend with weight 0', async () => {
    const { state } = compile((await readManifests(path('weights-and-drain'))).objects);
    expect(state.vips[0]?.backends.map((b) => [b.name, b.weight])).toEqual([
      ['shop-1', 2], ['shop-2', 1], ['shop-3', 1], ['shop-old', 0],
    ]);
  });
});
