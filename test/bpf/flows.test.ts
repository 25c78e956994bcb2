// Flows per backend against the real kernel: packets run through the loaded
// balancer (BPF_PROG_TEST_RUN) create connection-table entries, and the
// counter finds each in its table, attributes it to the real and VIP the
// program chose, and tells recent entries from old ones by their atime.
import { afterEach, describe, expect, it } from 'vitest';
import { possibleCpus } from '../../src/libbpf/libbpf.ts';
import { flowReport, formatFlows } from '../../src/agent/dataplane/flow-report.ts';
import { countFlows, openConnectionTables } from '../../src/agent/dataplane/flows.ts';
import { atimeNow, secondsToAtime } from '../../src/agent/dataplane/layout.ts';
import { readLive } from '../../src/agent/dataplane/maps-io.ts';
import { vipKeyId } from '../../src/agent/plan/model.ts';
import { build } from '../../src/packet/build.ts';
import { BalancerEnv } from './harness/balancer-env.ts';
import { clientFrame, flowTo, ringReal, type Flow } from './harness/frames.ts';
import { REALS, SIZES } from './harness/world.ts';

const C4 = '192.0.2.7';

describe('countFlows on the loaded balancer', () => {
  let env: BalancerEnv | undefined;
  afterEach(() => {
    env?.close();
    env = undefined;
  });

  it('counts every table per real and per VIP, recent by last-seen time', async () => {
    env = new BalancerEnv();
    const sent: Flow[] = [];
    for (let i = 0; i < 30; i++) sent.push(flowTo('web4', C4, 41000 + i));
    for (let i = 0; i < 5; i++) sent.push(flowTo('dns4', C4, 42000 + i));
    sent.push(flowTo('any4', C4, 43000, 8080)); // a port-less VIP
    for (const f of sent) {
      const frame = build(clientFrame(f, f.protocol === 'TCP' ? { flags: 'A' } : { payload: Buffer.from('q') }));
      expect(env.run(frame).retval).toBe(3);
    }
    // Old flows of the drained real 6, in every table: 10 minutes without a packet.
    const old = [flowTo('web4', '198.51.100.1', 5000), flowTo('web4', '198.51.100.2', 5000)];
    for (const f of old) env.pinFlow(f, 6, atimeNow() - secondsToAtime(600));

    const want = new Map<number, number>();
    for (const f of sent) {
      const vip = f.protocol === 'UDP' ? 'dns4' : f.dport === 8080 ? 'any4' : 'web4';
      const real = ringReal(vip, f);
      want.set(real, (want.get(real) ?? 0) + 1);
    }
    const tables = openConnectionTables(env.lb.maps);
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 0);
    try {
      expect(tables.tables.length).toBe(possibleCpus() + 1);
      const count = await countFlows(tables.tables, { recentSeconds: 60, byDestination: true, chunk: 4, sliceMs: 0 });
      expect(ticks, 'the event loop ran between slices').toBeGreaterThan(0);
      expect(count.entries).toBe(sent.length + old.length * tables.tables.length);
      for (const [real, n] of want) expect(count.byReal.get(real), `real ${real}`).toMatchObject({ flows: n, recent: n });
      const drained = count.byReal.get(6);
      expect(drained).toMatchObject({ flows: old.length * tables.tables.length, recent: 0 });
      expect(drained?.newestAgeSeconds).toBeGreaterThan(590);

      const live = readLive(env.lb.maps, SIZES);
      const web = vipKeyId({ address: '10.200.0.10', family: 'IPv4', port: 80, protocol: 'TCP' });
      const report = flowReport(count, live, new Map([[web, 'default/web']]));
      const row = (vip: string, backend: string): unknown => report.vips.find((v) => v.vip === vip && v.backend === backend);
      const webReal = ringReal('web4', sent[0]!);
      expect(row('default/web', REALS[webReal]!)).toMatchObject({ recent: sent.slice(0, 30).filter((f) => ringReal('web4', f) === webReal).length });
      expect(row('TCP 10.200.0.11:0', REALS[ringReal('any4', sent[35]!)]!)).toMatchObject({ flows: 1, recent: 1 });
      expect(row('default/web', '10.0.1.6')).toMatchObject({ flows: old.length * tables.tables.length, recent: 0 });
      expect(report.backends.reduce((n, b) => n + b.flows, 0)).toBe(count.entries);
      const text = formatFlows(report);
      expect(text).toContain('recent = seen in the last 60 s');
      expect(text).toMatch(new RegExp(`^default/web\\s+10\\.0\\.1\\.6\\s+${old.length * tables.tables.length}\\s+0\\s+(59\\d|60\\d) s ago$`, 'm'));
    } finally {
      clearInterval(ticker);
      tables.close();
    }
  });

  it('an empty table set counts nothing', async () => {
    env = new BalancerEnv();
    const tables = openConnectionTables(env.lb.maps);
    try {
      const count = await countFlows(tables.tables, { recentSeconds: 60 });
      expect(count.entries).toBe(0);
      expect(count.byReal.size).toBe(0);
    } finally {
      tables.close();
    }
  });
});
