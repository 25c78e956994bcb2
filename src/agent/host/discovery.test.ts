import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSterletError } from '../../common/errors.ts';
import { discoverEnvironment, discoverGateway, discoverLink, validateMac } from './discovery.ts';

// Decision logic (which route, which neighbour state, what error) is tested
// here against canned iproute2 JSON; test/e2e/discovery.test.ts runs the same
// code against a real kernel in network namespaces.

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), `sterlet-discovery-${process.pid}-`));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes an `ip` stand-in that answers by matching its arguments. */
async function fakeIp(name: string, answers: Record<string, string>): Promise<string> {
  const cases = Object.entries(answers)
    .map(([args, json]) => `  '${args}') printf '%s\\n' '${json}' ;;`)
    .join('\n');
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\ncase "$*" in\n${cases}\n  *) echo "unexpected: $*" >&2; exit 2 ;;\nesac\n`);
  await chmod(path, 0o755);
  return path;
}

const routes4 = '[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","flags":[]},{"dst":"default","gateway":"192.0.2.254","dev":"eth0","metric":50,"flags":[]}]';

async function codeOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    if (isSterletError(err)) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a rejection');
}

describe('validateMac', () => {
  it('normalizes and rejects unusable MACs', () => {
    expect(validateMac(' 02:FC:00:00:00:05\n', 'x')).toBe('02:fc:00:00:00:05');
    for (const bad of ['02:fc:00:00:00', '02-fc-00-00-00-05', '00:00:00:00:00:00', 'ff:ff:ff:ff:ff:ff', '01:00:5e:00:00:01']) {
      expect(() => validateMac(bad, '--gateway-mac'), bad).toThrow(/--gateway-mac/);
    }
  });
});

describe('discoverLink', () => {
  it('reads ifindex, MAC and MTU of lo from sysfs', async () => {
    const lo = await discoverLink('lo');
    expect(lo.ifindex).toBe(Number((await readFile('/sys/class/net/lo/ifindex', 'utf8')).trim()));
    expect(lo.mac).toBe('00:00:00:00:00:00');
    expect(lo.mtu).toBeGreaterThanOrEqual(1500);
  });

  it('names the interfaces that do exist when one is missing', async () => {
    const err = await codeOf(discoverLink('nosuch0'));
    expect(err.code).toBe('DISCOVERY_NO_SUCH_INTERFACE');
    expect(err.message).toContain('lo');
    expect((await codeOf(discoverLink('bad/name'))).code).toBe('DISCOVERY_BAD_INTERFACE_NAME');
  });
});

describe('discoverGateway', () => {
  it('follows the lowest-metric default route on the interface to its neighbour entry', async () => {
    const ip = await fakeIp('ok', {
      '-4 -j route show default': routes4,
      '-4 -j neigh show 192.0.2.1 dev eth0': '[{"dst":"192.0.2.1","lladdr":"02:FC:00:00:00:05","state":["STALE"]}]',
    });
    expect(await discoverGateway('eth0', 4, { ipCommand: ip })).toEqual({
      family: 4,
      address: '192.0.2.1',
      mac: '02:fc:00:00:00:05',
      source: 'kernel',
    });
  });

  it('says to ping the gateway or pass --gateway-mac when the MAC is unresolved', async () => {
    for (const neigh of ['[]', '[{"dst":"192.0.2.1","state":["FAILED"]}]', '[{"dst":"192.0.2.1","state":["INCOMPLETE"]}]']) {
      const ip = await fakeIp('unresolved', { '-4 -j route show default': routes4, '-4 -j neigh show 192.0.2.1 dev eth0': neigh });
      const err = await codeOf(discoverGateway('eth0', 4, { ipCommand: ip }));
      expect(err.code).toBe('DISCOVERY_GATEWAY_MAC_UNRESOLVED');
      expect(err.message).toContain('eth0');
      expect(err.message).toContain('ping the gateway once so the kernel resolves it, or pass --gateway-mac');
    }
  });

  it('explains a default route through another interface, or none', async () => {
    const ip = await fakeIp('elsewhere', { '-6 -j route show default': '[{"dst":"default","gateway":"fe80::1","dev":"eth1","metric":1024}]' });
    const err = await codeOf(discoverGateway('eth0', 6, { ipCommand: ip }));
    expect(err.code).toBe('DISCOVERY_NO_DEFAULT_ROUTE');
    expect(err.message).toContain('goes via eth1');
    const none = await fakeIp('none', { '-4 -j route show default': '' });
    expect((await codeOf(discoverGateway('eth0', 4, { ipCommand: none }))).message).toContain('no IPv4 default route at all');
  });

  it('rejects an on-link default route and unexpected output', async () => {
    const onlink = await fakeIp('onlink', { '-4 -j route show default': '[{"dst":"default","dev":"eth0"}]' });
    expect((await codeOf(discoverGateway('eth0', 4, { ipCommand: onlink }))).code).toBe('DISCOVERY_NO_GATEWAY');
    const junk = await fakeIp('junk', { '-4 -j route show default': 'Error: something' });
    expect((await codeOf(discoverGateway('eth0', 4, { ipCommand: junk }))).code).toBe('DISCOVERY_BAD_IP_OUTPUT');
  });

  it('reports a missing ip binary and failing commands', async () => {
    expect((await codeOf(discoverGateway('eth0', 4, { ipCommand: join(dir, 'absent') }))).code).toBe('DISCOVERY_IP_MISSING');
    const failing = await fakeIp('failing', {});
    const err = await codeOf(discoverGateway('eth0', 4, { ipCommand: failing, netns: 'gone' }));
    expect(err.code).toBe('DISCOVERY_COMMAND_FAILED');
    expect(err.message).toContain('unexpected: -n gone -4 -j route show default');
  });
});

describe('discoverEnvironment', () => {
  it('uses a gateway MAC override as is, after validation', async () => {
    const env = await discoverEnvironment({ interface: 'lo', gatewayMac: '02:AA:BB:CC:DD:EE' });
    expect(env.gateway).toEqual({ family: 4, address: undefined, mac: '02:aa:bb:cc:dd:ee', source: 'override' });
    expect((await codeOf(discoverEnvironment({ interface: 'lo', gatewayMac: 'nope' }))).code).toBe('DISCOVERY_BAD_MAC');
  });

  it('falls back to the IPv6 default route when there is no IPv4 one', async () => {
    const ip = await fakeIp('v6only', {
      '-4 -j route show default': '[]',
      '-6 -j route show default': '[{"dst":"default","gateway":"fe80::1","dev":"lo","metric":1024}]',
      '-6 -j neigh show fe80::1 dev lo': '[{"dst":"fe80::1","lladdr":"02:00:00:00:00:06","state":["REACHABLE"]}]',
    });
    const env = await discoverEnvironment({ interface: 'lo', ipCommand: ip });
    expect(env.gateway).toEqual({ family: 6, address: 'fe80::1', mac: '02:00:00:00:00:06', source: 'kernel' });
    expect(env.link.name).toBe('lo');
  });
});
