// Balancer then decap, both real programs: what the backend's kernel receives
// is exactly the client's IP packet, for every encapsulation kind.
import { afterEach, describe, expect, it } from 'vitest';
import { encodeDecapAddr, u32 } from '../../src/agent/dataplane/codec.ts';
import { DecapFlag } from '../../src/agent/dataplane/layout.ts';
import { XdpAction } from '../../src/libbpf/libbpf.ts';
import { build } from '../../src/packet/build.ts';
import { BalancerEnv } from './harness/balancer-env.ts';
import { DecapEnv } from './harness/decap-env.ts';
import { clientFrame, flowTo, ringReal } from './harness/frames.ts';
import { REALS, type VipName } from './harness/world.ts';

const cases: readonly [string, VipName, string][] = [
  ['IPIP', 'web4', '192.0.2.7'],
  ['IP6IP6', 'web6', '2001:db8::7'],
  ['4-in-6', 'mixed', '192.0.2.7'],
  ['GUE over IPv4', 'gue4', '192.0.2.7'],
  ['GUE over IPv6', 'gue6', '2001:db8::7'],
  ['GUE over IPv6 carrying IPv4', 'gue46', '192.0.2.7'],
];

describe('balancer -> decap round trip', () => {
  let lb: BalancerEnv | undefined;
  let be: DecapEnv | undefined;
  afterEach(() => {
    lb?.close();
    be?.close();
    lb = be = undefined;
  });

  it.each(cases)('%s', (_kind, vip, client) => {
    lb = new BalancerEnv();
    be = new DecapEnv();
    const f = flowTo(vip, client, 40000);
    be.decap.maps.addrs.update(encodeDecapAddr(REALS[ringReal(vip, f)]!), u32(DecapFlag.local));
    const input = build(clientFrame(f, { flags: 'PA', payload: Buffer.from('GET / HTTP/1.1\r\n\r\n') }));

    const sent = lb.run(input);
    expect(sent.retval).toBe(XdpAction.TX);
    const received = be.run(sent.data);
    expect(received.retval).toBe(XdpAction.PASS);
    // Same IP packet; MACs are the hop's (gateway MAC as destination).
    expect(received.data.subarray(12).toString('hex')).toBe(input.subarray(12).toString('hex'));
  });
});
