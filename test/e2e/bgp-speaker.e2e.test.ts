// The GoBGP adapter and the Announcer against a real gobgpd (the pinned
// build), its API on host loopback, BGP listening off: configuration, routes
// with attributes, withdrawal, adoption and re-announcement after a speaker
// restart. Sessions to a real router are in bgp-ecmp.e2e.test.ts.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Announcer } from '../../src/agent/announce/announcer.ts';
import { goBgpSpeaker, type Speaker } from '../../src/agent/announce/gobgp.ts';
import type { AnnounceInput } from '../../src/agent/announce/routes.ts';
import type { DesiredVip } from '../../src/agent/plan/model.ts';
import { fromCompiledState } from '../../src/agent/plan/desired.ts';
import { compile } from '../../src/compile/compile.ts';
import { Backend } from '../../src/api/backend.ts';
import { VirtualIP } from '../../src/api/virtual-ip.ts';
import { VirtualIPPool } from '../../src/api/virtual-ip-pool.ts';
import { freePort, gobgpDir, startGobgpd } from '../support/e2e/bgp.ts';
import { ProcessGroup, type ManagedProcess } from '../support/e2e/processes.ts';

const group = new ProcessGroup();
let scratch = '';
let api = '';
let gobgpd: ManagedProcess;
let speaker: Speaker;

const quiet = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };
const lines: string[] = [];
const log = { ...quiet, info: (o: object, m: string) => void lines.push(`${m} ${JSON.stringify(o)}`), warn: (o: object, m: string) => void lines.push(`WARN ${m} ${JSON.stringify(o)}`) };

function vip(id: string, address: string, weight = 1): DesiredVip {
  return {
    id,
    revision: 'r1',
    key: { address, family: 'IPv4', port: 80, protocol: 'TCP' },
    flags: { hash: 'FiveTuple', connectionTracking: true, quic: false, encapsulation: 'IPIP' },
    backends: [{ address: '10.0.1.11', family: 'IPv4', weight }],
    announcement: { communities: ['65001:100'], localPreference: 150 },
  };
}

async function start(): Promise<void> {
  gobgpd = await startGobgpd(group, { name: 'gobgpd', apiAddress: api, logFile: join(scratch, 'gobgpd.log') });
}

beforeAll(async () => {
  gobgpDir();
  scratch = await mkdtemp(join(tmpdir(), 'stl-bgp-speaker-'));
  api = `127.0.0.1:${String(await freePort())}`;
  await start();
  speaker = goBgpSpeaker({ address: api, timeoutMs: 3000 });
  // gobgpd takes a moment to open its API port.
  for (let i = 0; i < 50; i++) {
    try {
      await speaker.global();
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}, 300_000);

afterAll(async () => {
  speaker?.close();
  await group.stopAll();
  if (scratch !== '') await rm(scratch, { recursive: true, force: true });
});

describe('GoBGP adapter (real gobgpd)', () => {
  it('starts BGP, configures a session and originates and withdraws a route with communities and local preference', async () => {
    expect(await speaker.global()).toBeUndefined();
    await speaker.start({ asn: 65001, routerId: '192.0.2.1', listenPort: -1 });
    expect(await speaker.global()).toEqual({ asn: 65001, routerId: '192.0.2.1', listenPort: -1 });

    await speaker.addPeer({ address: '192.0.2.254', peerAsn: 65000, localAsn: 65001, holdTimeSeconds: 9, families: ['IPv4'] });
    const peers = await speaker.peers();
    expect(peers.map((p) => [p.address, p.peerAsn])).toEqual([['192.0.2.254', 65000]]);
    expect(peers[0]?.state).not.toBe('Established'); // nobody there

    const route = { prefix: '10.200.0.10/32', family: 'IPv4' as const, communities: [65001 * 65536 + 100], localPreference: 150 };
    await speaker.announce(route);
    expect(await speaker.routes()).toEqual([route]);
    await speaker.withdraw(route);
    expect(await speaker.routes()).toEqual([]);
    await speaker.deletePeer('192.0.2.254');
    expect(await speaker.peers()).toEqual([]);
  });

  it('names the fix when gobgpd is not listening', async () => {
    const dead = goBgpSpeaker({ address: `127.0.0.1:${String(await freePort())}`, timeoutMs: 500 });
    await expect(dead.global()).rejects.toThrow(/BGP speaker .*GetBgp failed.*--bgp-speaker/);
    dead.close();
  });
});

describe('Announcer (real gobgpd)', () => {
  const peer = { address: '192.0.2.254', peerAsn: 65000, localAsn: 65001, holdTimeSeconds: 9, families: ['IPv4' as const] };
  let state: Omit<AnnounceInput, 'draining' | 'families'> | undefined;
  const announcer = (): Announcer =>
    new Announcer({ speaker, global: { routerId: '192.0.2.1', listenPort: -1 }, peers: async () => [peer], state: () => state, log });

  it('announces the gated VIPs, withdraws a VIP without usable backends, and re-announces after a speaker restart', async () => {
    const a = announcer();
    const web = vip('default/web', '10.200.0.10');
    const api2 = vip('default/api', '10.200.0.11');
    state = { ready: true, attached: true, desired: [web, api2], programmed: new Map([[web.id, 'r1'], [api2.id, 'r1']]) };
    await a.tick();
    expect((await speaker.routes()).map((r) => r.prefix).sort()).toEqual(['10.200.0.10/32', '10.200.0.11/32']);
    expect(a.status.peers.map((p) => p.address)).toEqual(['192.0.2.254']);

    const drained = vip('default/api', '10.200.0.11', 0);
    state = { ...state, desired: [web, drained] };
    await a.tick();
    expect((await speaker.routes()).map((r) => r.prefix)).toEqual(['10.200.0.10/32']);
    expect(a.status.held.get('default/api')).toBe('NoUsableBackend');

    // gobgpd dies and comes back empty: the next tick configures and announces everything again.
    await group.remove(gobgpd, 'SIGKILL');
    await a.tick(); // speaker down: logged, no throw
    expect(lines.some((l) => l.startsWith('WARN BGP speaker call failed'))).toBe(true);
    await start();
    for (let i = 0; i < 50 && (await speaker.global().catch(() => 'down')) === 'down'; i++) await new Promise((r) => setTimeout(r, 100));
    await a.tick();
    expect(await speaker.global()).toMatchObject({ asn: 65001 });
    expect((await speaker.peers()).map((p) => p.address)).toEqual(['192.0.2.254']);
    expect((await speaker.routes()).map((r) => r.prefix)).toEqual(['10.200.0.10/32']);
  });

  it('a new announcer before the first apply leaves the routes and the session alone (kill -9 of the agent); drain withdraws them all', async () => {
    state = undefined;
    const b = announcer();
    const before = lines.length;
    await b.tick();
    expect((await speaker.routes()).map((r) => r.prefix)).toEqual(['10.200.0.10/32']);
    expect(lines.slice(before).filter((l) => l.includes('BGP session'))).toEqual([]);
    // SIGTERM before the first apply still withdraws.
    await b.drain();
    expect(await speaker.routes()).toEqual([]);
    expect(b.status.announced).toEqual([]);
    // Sessions stay up while draining, so the withdrawal reaches the routers.
    expect((await speaker.peers()).map((p) => p.address)).toEqual(['192.0.2.254']);
  });

  it('announces the attributes a VirtualIPPool sets, with the VIP\'s own overriding them, and re-announces when the pool changes', async () => {
    const api = 'sterlet.dev/v1alpha1';
    const poolOf = (announcement: Record<string, unknown>): VirtualIPPool => VirtualIPPool.parse({
      apiVersion: api, kind: 'VirtualIPPool', metadata: { name: 'edge' },
      spec: { addresses: ['10.200.1.0/24'], backendAddresses: ['10.0.1.0/24'], announcement },
    });
    const objects = [
      VirtualIP.parse({ apiVersion: api, kind: 'VirtualIP', metadata: { name: 'web', namespace: 'default' }, spec: { address: '10.200.1.10', port: 80, protocol: 'TCP', backendSelector: { matchLabels: { app: 'web' } } } }),
      VirtualIP.parse({ apiVersion: api, kind: 'VirtualIP', metadata: { name: 'api', namespace: 'default' }, spec: { address: '10.200.1.11', port: 80, protocol: 'TCP', backendSelector: { matchLabels: { app: 'web' } }, announcement: { localPreference: 300 } } }),
      Backend.parse({ apiVersion: api, kind: 'Backend', metadata: { name: 'web-1', namespace: 'default', labels: { app: 'web' } }, spec: { address: '10.0.1.11' } }),
    ];
    // What the controller publishes and every agent announces from.
    const desiredWith = (pool: VirtualIPPool): DesiredVip[] =>
      fromCompiledState(compile(objects, { admission: { mode: 'Pools', pools: [pool], namespaceLabels: new Map() } }).state);
    const setState = (desired: DesiredVip[]): void => { state = { ready: true, attached: true, desired, programmed: new Map(desired.map((v) => [v.id, v.revision])) }; };
    setState(desiredWith(poolOf({ communities: ['65001:100', '65001:7'], localPreference: 150 })));
    const d = announcer();
    await d.tick();
    const byPrefix = async (): Promise<Record<string, unknown>> => Object.fromEntries((await speaker.routes()).map((r) => [r.prefix, { communities: [...r.communities].sort((x, y) => x - y), localPreference: r.localPreference }]));
    expect(await byPrefix()).toEqual({
      '10.200.1.10/32': { communities: [65001 * 65536 + 7, 65001 * 65536 + 100], localPreference: 150 },
      '10.200.1.11/32': { communities: [65001 * 65536 + 7, 65001 * 65536 + 100], localPreference: 300 },
    });
    setState(desiredWith(poolOf({ communities: ['65002:1'] })));
    await d.tick();
    expect(await byPrefix()).toEqual({
      '10.200.1.10/32': { communities: [65002 * 65536 + 1], localPreference: undefined },
      '10.200.1.11/32': { communities: [65002 * 65536 + 1], localPreference: 300 },
    });
    await d.drain();
    expect(await speaker.routes()).toEqual([]);
  });

  it('re-creates a session whose settings changed (hold time), and removes one no BGPPeer names any more', async () => {
    let peers = [peer];
    const c = new Announcer({ speaker, global: { routerId: '192.0.2.1', listenPort: -1 }, peers: async () => peers, state: () => undefined, log });
    await c.tick();
    const before = lines.length;
    peers = [{ ...peer, holdTimeSeconds: 30 }];
    await c.tick();
    expect(lines.slice(before).filter((l) => l.includes('BGP session'))).toEqual([
      expect.stringContaining('BGP session settings changed; re-creating it'),
      expect.stringContaining('BGP session configured'),
    ]);
    peers = [];
    await c.tick();
    expect(await speaker.peers()).toEqual([]);
  });
});
