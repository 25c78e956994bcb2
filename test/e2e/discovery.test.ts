// Discovery against the real kernel: a host namespace whose default routes
// (IPv4 and IPv6) point at a router namespace across a veth pair. The kernel
// resolves the router's MAC only after traffic, so this checks both the
// "unresolved" error and the resolved MAC against the router's real one.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discoverEnvironment, discoverGateway, discoverLink } from '../../src/agent/host/discovery.ts';
import { gatewayRefresher } from '../../src/agent/host/gateway.ts';
import { isSterletError } from '../../src/common/errors.ts';

const exec = promisify(execFile);
const NODE = resolve(import.meta.dirname, '../../node_modules/.bin/node');
const suffix = `${process.pid}-${randomBytes(3).toString('hex')}`;
const HOST = `st-disc-h-${suffix}`;
const ROUTER = `st-disc-r-${suffix}`;

async function ipIn(ns: string, ...args: string[]): Promise<string> {
  return (await exec('ip', ['-n', ns, ...args])).stdout;
}

async function macOf(ns: string, dev: string): Promise<string> {
  return (JSON.parse(await ipIn(ns, '-j', 'link', 'show', 'dev', dev)) as { address: string }[])[0]!.address;
}

/** Sends one UDP datagram from the host namespace so the kernel resolves the next hop. */
async function poke(address: string): Promise<void> {
  const script = `const s=require('node:dgram').createSocket('${address.includes(':') ? 'udp6' : 'udp4'}');s.send('x',9,'${address}',()=>s.close());`;
  await exec('ip', ['netns', 'exec', HOST, NODE, '-e', script]);
}

async function waitForNeighbour(address: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const out = JSON.parse((await ipIn(HOST, '-j', 'neigh', 'show', address, 'dev', 'lb0')) || '[]') as { lladdr?: string }[];
    if (out[0]?.lladdr !== undefined) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`neighbour ${address} never resolved in ${HOST}`);
}

async function expectCode(p: Promise<unknown>, code: string): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(isSterletError(err, code), String(err)).toBe(true);
    return (err as Error).message;
  }
  throw new Error(`expected ${code}`);
}

beforeAll(async () => {
  await exec('ip', ['netns', 'add', HOST]);
  await exec('ip', ['netns', 'add', ROUTER]);
  await ipIn(HOST, 'link', 'add', 'lb0', 'type', 'veth', 'peer', 'name', 'rt0', 'netns', ROUTER);
  for (const [ns, dev, v4, v6] of [
    [HOST, 'lb0', '10.231.0.2/24', 'fd00:231::2/64'],
    [ROUTER, 'rt0', '10.231.0.1/24', 'fd00:231::1/64'],
  ] as const) {
    await ipIn(ns, 'addr', 'add', v4, 'dev', dev);
    await ipIn(ns, '-6', 'addr', 'add', v6, 'dev', dev, 'nodad');
    await ipIn(ns, 'link', 'set', dev, 'up');
    await ipIn(ns, 'link', 'set', 'lo', 'up');
  }
  await ipIn(HOST, 'route', 'add', 'default', 'via', '10.231.0.1');
  await ipIn(HOST, '-6', 'route', 'add', 'default', 'via', 'fd00:231::1');
});

afterAll(async () => {
  for (const ns of [HOST, ROUTER]) await exec('ip', ['netns', 'del', ns]).catch(() => undefined);
});

describe('discovery in a network namespace', () => {
  it('reads the interface facts through ip -n', async () => {
    const link = await discoverLink('lb0', { netns: HOST });
    const raw = JSON.parse(await ipIn(HOST, '-j', 'link', 'show', 'dev', 'lb0')) as { ifindex: number; mtu: number }[];
    expect(link).toEqual({ name: 'lb0', ifindex: raw[0]!.ifindex, mac: await macOf(HOST, 'lb0'), mtu: raw[0]!.mtu });
    await expectCode(discoverLink('nope0', { netns: HOST }), 'DISCOVERY_NO_SUCH_INTERFACE');
  });

  it('explains an unresolved gateway MAC, then finds it once the kernel has talked to it', async () => {
    const message = await expectCode(discoverGateway('lb0', 4, { netns: HOST }), 'DISCOVERY_GATEWAY_MAC_UNRESOLVED');
    expect(message).toContain('lb0');
    expect(message).toContain('ping the gateway once so the kernel resolves it, or pass --gateway-mac');

    await poke('10.231.0.1');
    await waitForNeighbour('10.231.0.1');
    const env = await discoverEnvironment({ interface: 'lb0', netns: HOST });
    expect(env.gateway).toEqual({ family: 4, address: '10.231.0.1', mac: await macOf(ROUTER, 'rt0'), source: 'kernel' });
    expect(env.link.mac).toBe(await macOf(HOST, 'lb0'));
  });

  it('resolves the IPv6 default gateway through the neighbour table', async () => {
    await poke('fd00:231::1');
    await waitForNeighbour('fd00:231::1');
    const gw = await discoverGateway('lb0', 6, { netns: HOST });
    expect(gw).toEqual({ family: 6, address: 'fd00:231::1', mac: await macOf(ROUTER, 'rt0'), source: 'kernel' });
  });

  it('fails clearly for a missing default route or namespace', async () => {
    await ipIn(HOST, 'route', 'del', 'default');
    try {
      const message = await expectCode(discoverGateway('lb0', 4, { netns: HOST }), 'DISCOVERY_NO_DEFAULT_ROUTE');
      expect(message).toContain('pass --gateway-mac');
      // With no IPv4 default route, the environment follows the IPv6 one.
      expect((await discoverEnvironment({ interface: 'lb0', netns: HOST })).gateway.family).toBe(6);
    } finally {
      await ipIn(HOST, 'route', 'add', 'default', 'via', '10.231.0.1');
    }
    await expectCode(discoverGateway('lb0', 4, { netns: `${HOST}-missing` }), 'DISCOVERY_COMMAND_FAILED');
  });

  it('re-resolves a discovered gateway MAC after the router changed it, and reports the change once', async () => {
    await poke('10.231.0.1');
    await waitForNeighbour('10.231.0.1');
    const initial = await discoverGateway('lb0', 4, { netns: HOST });
    const writes: string[] = [];
    const changes: object[] = [];
    const refresher = gatewayRefresher({
      interfaceName: 'lb0',
      initial,
      discovery: { netns: HOST },
      write: (mac) => writes.push(mac),
      log: { info: (obj) => changes.push(obj), warn: () => undefined },
    });
    expect(await refresher.refresh()).toBe(false);
    const replaced = '02:5e:00:00:23:01';
    const original = await macOf(ROUTER, 'rt0');
    await ipIn(ROUTER, 'link', 'set', 'dev', 'rt0', 'address', replaced);
    try {
      // The host learns the new MAC as it would after a failover: its entry is re-resolved.
      await ipIn(HOST, 'neigh', 'flush', 'dev', 'lb0');
      await poke('10.231.0.1');
      await waitForNeighbour('10.231.0.1');
      expect(await refresher.refresh()).toBe(true);
      expect(writes).toEqual([replaced]);
      expect(changes).toEqual([expect.objectContaining({ from: original, to: replaced, gateway: '10.231.0.1' })]);
      expect(await refresher.refresh()).toBe(false);
      expect(writes).toHaveLength(1);
    } finally {
      await ipIn(ROUTER, 'link', 'set', 'dev', 'rt0', 'address', original);
    }
  });
});
