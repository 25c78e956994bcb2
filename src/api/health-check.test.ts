import { describe, expect, it } from 'vitest';
import { Backend } from './backend.ts';
import { compile } from '../compile/compile.ts';
import { DesiredState } from './desired-state.ts';
import { HEALTH_CHECK_DEFAULTS } from './health-check.ts';
import { VirtualIP } from './virtual-ip.ts';

const apiVersion = 'sterlet.dev/v1alpha1';
const vipInput = (spec: Record<string, unknown>) => ({
  apiVersion,
  kind: 'VirtualIP',
  metadata: { name: 'web', namespace: 'default' },
  spec: { address: '10.200.0.10', port: 80, protocol: 'TCP', backendSelector: { matchLabels: { app: 'web' } }, ...spec },
});
const vip = (spec: Record<string, unknown> = {}): VirtualIP => VirtualIP.parse(vipInput(spec));
const be = (name: string, address: string, spec: Record<string, unknown> = {}): Backend =>
  Backend.parse({ apiVersion, kind: 'Backend', metadata: { name, namespace: 'default', labels: { app: 'web' } }, spec: { address, ...spec } });

function issue(spec: Record<string, unknown>): { path: string; message: string } | undefined {
  const r = VirtualIP.safeParse(vipInput(spec));
  const first = r.error?.issues[0];
  return first === undefined ? undefined : { path: first.path.map(String).join('.'), message: first.message };
}

describe('VirtualIP spec.healthCheck', () => {
  it('fills the documented defaults', () => {
    expect(vip({ healthCheck: {} }).spec.healthCheck).toEqual({
      intervalSeconds: HEALTH_CHECK_DEFAULTS.intervalSeconds,
      timeoutSeconds: HEALTH_CHECK_DEFAULTS.timeoutSeconds,
      healthyThreshold: HEALTH_CHECK_DEFAULTS.healthyThreshold,
      unhealthyThreshold: HEALTH_CHECK_DEFAULTS.unhealthyThreshold,
    });
  });

  it.each([
    ['timeout not below interval', { intervalSeconds: 2, timeoutSeconds: 2 }, 'spec.healthCheck.timeoutSeconds', /smaller than intervalSeconds/],
    ['path on a TCP check', { type: 'TCP', path: '/healthz' }, 'spec.healthCheck.path', /only used by type: HTTP/],
    ['expectedStatus on a TCP check', { expectedStatus: { min: 200, max: 299 } }, 'spec.healthCheck.expectedStatus', /only used by type: HTTP/],
    ['inverted status range', { type: 'HTTP', expectedStatus: { min: 400, max: 200 } }, 'spec.healthCheck.expectedStatus.min', /min must not exceed max/],
    ['port 0', { port: 0 }, 'spec.healthCheck.port', /.+/],
    ['port above 65535', { port: 70000 }, 'spec.healthCheck.port', /.+/],
    ['relative path', { type: 'HTTP', path: 'healthz' }, 'spec.healthCheck.path', /start with \//],
    ['unknown type', { type: 'ICMP' }, 'spec.healthCheck.type', /.+/],
    ['zero threshold', { unhealthyThreshold: 0 }, 'spec.healthCheck.unhealthyThreshold', /.+/],
  ])('rejects %s, naming the field', (_name, healthCheck, path, message) => {
    const got = issue({ healthCheck });
    expect(got?.path).toBe(path);
    expect(got?.message).toMatch(message);
  });

  it('requires a port on a port-less VIP unless the check is None', () => {
    expect(issue({ port: 0, healthCheck: { type: 'TCP' } })).toMatchObject({ path: 'spec.healthCheck.port', message: /port-less VIP/ });
    expect(issue({ port: 0, healthCheck: { type: 'TCP', port: 8080 } })).toBeUndefined();
    expect(issue({ port: 0, healthCheck: { type: 'None' } })).toBeUndefined();
    expect(issue({ port: 0 })).toBeUndefined();
  });
});

describe('compile: health checks', () => {
  const three = [be('web-1', '10.0.1.11'), be('web-2', '10.0.1.12'), be('web-3', '10.0.1.13')];

  it('defaults to a TCP connect to the VIP port for TCP VIPs, none for UDP and port-less VIPs', () => {
    const tcp = compile([vip(), ...three]).state.vips[0];
    expect(tcp?.healthCheck).toEqual({ type: 'TCP', port: 80, intervalSeconds: 5, timeoutSeconds: 2, healthyThreshold: 2, unhealthyThreshold: 3 });
    expect(compile([vip({ protocol: 'UDP' }), ...three]).state.vips[0]?.healthCheck).toBeUndefined();
    expect(compile([vip({ port: 0 }), ...three]).state.vips[0]?.healthCheck).toBeUndefined();
    expect(compile([vip({ healthCheck: { type: 'None' } }), ...three]).state.vips[0]?.healthCheck).toBeUndefined();
  });

  it('resolves HTTP path and status defaults, and the compiled state still parses', () => {
    const result = compile([vip({ healthCheck: { type: 'HTTP', intervalSeconds: 2, timeoutSeconds: 1 } }), ...three]);
    expect(result.problems).toEqual([]);
    expect(result.state.vips).toHaveLength(1);
    expect(result.state.vips[0]?.healthCheck).toMatchObject({ type: 'HTTP', path: '/', expectedStatus: { min: 200, max: 399 } });
    expect(DesiredState.safeParse(result.state).success).toBe(true);
  });

  it('carries a Backend override only where it differs from the VIP check', () => {
    const objects = [
      vip({ healthCheck: { type: 'HTTP', path: '/ready', intervalSeconds: 3, timeoutSeconds: 1 } }),
      be('web-1', '10.0.1.11'),
      be('web-2', '10.0.1.12', { healthCheck: { port: 8080, path: '/live' } }),
      be('web-3', '10.0.1.13', { healthCheck: { type: 'None' } }),
    ];
    const result = compile(objects);
    expect(result.problems).toEqual([]);
    const [a, b, c] = result.state.vips[0]?.backends ?? [];
    expect(result.state.vips[0]?.healthCheck).toMatchObject({ type: 'HTTP', port: 80, path: '/ready', expectedStatus: { min: 200, max: 399 }, intervalSeconds: 3 });
    expect(a?.healthCheck).toBeUndefined();
    expect(b?.healthCheck).toMatchObject({ type: 'HTTP', port: 8080, path: '/live', intervalSeconds: 3 });
    expect(c).toMatchObject({ unchecked: true });
    expect(DesiredState.safeParse(result.state).success).toBe(true);
  });

  it('changes the revision when the check changes (agents must pick it up)', () => {
    const base = compile([vip(), ...three]).state.vips[0]?.revision;
    expect(compile([vip({ healthCheck: { intervalSeconds: 10 } }), ...three]).state.vips[0]?.revision).not.toBe(base);
  });
});
