// Two controller processes share one Lease: exactly one reconciles; killing
// it (SIGKILL, no release) hands over within the lease duration, and the new
// leader keeps reconciling. A clean shutdown releases the Lease at once.
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Resources } from '../../src/kube/client.ts';
import { createNamespace, deleteNamespace, kubectl, waitFor } from '../support/kube/index.ts';
import { spawnController } from '../support/kube/controller.ts';
import { installCrds } from '../support/kube/crds.ts';
import { applyObjects, backend, client, dropFinalizers, pool, randomVipNet, vip, waitCondition } from '../support/kube/objects.ts';

const LEASE_SECONDS = 4;
let ns = '';
const net = randomVipNet();
const poolName = `pool-leader-${process.pid}`;
const children: ChildProcess[] = [];

interface Lease { spec: { holderIdentity?: string; renewTime?: string; acquireTime?: string; leaseDurationSeconds?: number; leaseTransitions?: number } }

async function lease(): Promise<Lease | undefined> {
  try {
    return (await client().get(Resources.lease, 'sterlet-controller', ns)) as unknown as Lease;
  } catch {
    return undefined;
  }
}

function start(identity: string): ChildProcess {
  const child = spawnController({ leaseNamespace: ns, identity, leaseDurationSeconds: LEASE_SECONDS });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  child.on('exit', (code) => { if (code !== 0 && code !== null) console.error(`controller ${identity} exited ${code}:\n${out.slice(-2000)}`); });
  children.push(child);
  return child;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('leader');
  await applyObjects(undefined, [pool(poolName, {
    addresses: [`${net}.0/24`], backendAddresses: ['10.0.0.0/16'],
    namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
  })]);
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(children.map(exited));
  if (ns !== '') { await dropFinalizers(ns); await deleteNamespace(ns); }
  await kubectl(['delete', 'virtualippool', poolName, '--ignore-not-found'], { allowFail: true });
});

describe('leader election', () => {
  it('elects one of two replicas, fails over after a SIGKILL within the lease duration, and keeps reconciling', async () => {
    const a = start(`a-${process.pid}`);
    const b = start(`b-${process.pid}`);
    const first = await waitFor(async () => (await lease())?.spec.holderIdentity, { what: 'a Lease holder', timeoutMs: 30_000 });
    const l = await lease();
    expect(l?.spec.leaseDurationSeconds).toBe(LEASE_SECONDS);
    expect(l?.spec.renewTime).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/);

    await applyObjects(ns, [vip('one', { address: `${net}.1`, backendSelector: { matchLabels: { app: 'x' } } }), backend('x1', '10.0.3.1', { app: 'x' })]);
    await waitCondition(ns, 'one', 'Accepted', { status: 'True' }, 20_000);

    const [leader, standby] = first === `a-${process.pid}` ? [a, b] : [b, a];
    const killedAt = Date.now();
    leader.kill('SIGKILL');
    await exited(leader);
    const next = await waitFor(async () => {
      const h = (await lease())?.spec.holderIdentity;
      return h !== undefined && h !== first ? h : undefined;
    }, { what: 'the standby to take the Lease', timeoutMs: (LEASE_SECONDS + 6) * 1000, intervalMs: 100 });
    const handover = Date.now() - killedAt;
    console.log(`leader SIGKILLed -> standby holds the Lease after ${handover} ms (lease ${LEASE_SECONDS} s)`);
    // Within the lease duration plus one retry period and scheduling slack.
    expect(handover).toBeLessThan((LEASE_SECONDS + 2) * 1000);
    expect(next).not.toBe(first);
    expect((await lease())?.spec.leaseTransitions).toBeGreaterThanOrEqual(1);

    await applyObjects(ns, [vip('two', { address: `${net}.2`, backendSelector: { matchLabels: { app: 'x' } } })]);
    await waitCondition(ns, 'two', 'Accepted', { status: 'True' }, 20_000);

    // A clean stop releases the Lease (no holder) instead of letting it expire.
    await kubectl(['delete', 'vip', '--all', '-n', ns]);
    standby.kill('SIGTERM');
    await exited(standby);
    expect((await lease())?.spec.holderIdentity ?? '').toBe('');
  });
});
