import { describe, expect, it } from 'vitest';
import { SterletError } from '../../common/errors.ts';
import type { GatewayFacts } from './discovery.ts';
import { gatewayRefresher } from './gateway.ts';

const kernel = (mac: string, address = '10.0.0.1'): GatewayFacts => ({ family: 4, address, mac, source: 'kernel' });

function harness(initial: GatewayFacts, answers: (GatewayFacts | Error)[]) {
  const writes: string[] = [];
  const logs: { level: string; obj: object; msg: string }[] = [];
  const asked: string[] = [];
  const refresher = gatewayRefresher({
    interfaceName: 'eth0',
    initial,
    write: (mac) => writes.push(mac),
    log: { info: (obj, msg) => logs.push({ level: 'info', obj, msg }), warn: (obj, msg) => logs.push({ level: 'warn', obj, msg }) },
    resolve: async (ifname, family) => {
      asked.push(`${ifname}/${family}`);
      const next = answers.shift();
      if (next instanceof Error) throw next;
      return next ?? initial;
    },
  });
  return { refresher, writes, logs, asked };
}

describe('gatewayRefresher', () => {
  it('writes and logs a discovered MAC only when it changed', async () => {
    const h = harness(kernel('02:00:00:00:00:01'), [kernel('02:00:00:00:00:01'), kernel('02:00:00:00:00:02'), kernel('02:00:00:00:00:02')]);
    expect(await h.refresher.refresh()).toBe(false);
    expect(h.writes).toEqual([]);
    expect(await h.refresher.refresh()).toBe(true);
    expect(h.writes).toEqual(['02:00:00:00:00:02']);
    expect(h.logs).toEqual([{ level: 'info', obj: expect.objectContaining({ from: '02:00:00:00:00:01', to: '02:00:00:00:00:02' }), msg: 'gateway MAC changed; settings updated' }]);
    expect(await h.refresher.refresh()).toBe(false);
    expect(h.writes).toHaveLength(1);
    expect(h.refresher.current.mac).toBe('02:00:00:00:00:02');
    expect(h.asked).toEqual(['eth0/4', 'eth0/4', 'eth0/4']);
  });

  it('keeps the MAC in use when the lookup fails', async () => {
    const h = harness(kernel('02:00:00:00:00:01'), [new SterletError('DISCOVERY_GATEWAY_MAC_UNRESOLVED', 'unknown')]);
    expect(await h.refresher.refresh()).toBe(false);
    expect(h.writes).toEqual([]);
    expect(h.logs[0]).toMatchObject({ level: 'warn', obj: { mac: '02:00:00:00:00:01' } });
    // The error object itself is logged (pino serializes code, message, stack and cause).
    expect(h.logs[0]?.obj).toMatchObject({ err: { code: 'DISCOVERY_GATEWAY_MAC_UNRESOLVED' } });
    expect(h.refresher.current.mac).toBe('02:00:00:00:00:01');
  });

  it('never re-resolves a --gateway-mac override', async () => {
    const h = harness({ family: 4, address: undefined, mac: '02:00:00:00:00:09', source: 'override' }, [kernel('02:00:00:00:00:02')]);
    expect(await h.refresher.refresh()).toBe(false);
    expect(h.asked).toEqual([]);
    expect(h.writes).toEqual([]);
  });
});
