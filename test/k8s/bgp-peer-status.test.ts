// The BGPPeer summary the controller computes on a real kube-apiserver: the
// agents' per-node entries (written here by server-side apply under each
// agent's field manager, as agents do) and the LoadBalancerNodes the peer's
// nodeSelector selects become status.established / announced / sessions and
// Ready, shown by `kubectl get bgpp`; the controller's own apply never removes
// an agent's entry.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Resources } from '../../src/kube/client.ts';
import { createNamespace, deleteNamespace, kubectl, waitFor } from '../support/kube/index.ts';
import { type InProcessController, startController } from '../support/kube/controller.ts';
import { installCrds } from '../support/kube/crds.ts';
import { API, applyObjects, client, deleteNodes, reportNode } from '../support/kube/objects.ts';

const tag = `bp${process.pid}-${randomBytes(3).toString('hex')}`;
const labels = { 'sterlet.dev/test': tag };
const peerName = `tor-${tag}`;
const nodes = ['a', 'b', 'c'].map((n) => `${n}-${tag}`);
const [nodeA = '', nodeB = '', nodeC = ''] = nodes;
let ns = '';
let controller: InProcessController | undefined;

interface PeerStatus {
  nodes?: { node: string; sessionState: string; announced: number }[];
  established?: string;
  announced?: number;
  sessions?: string;
  conditions?: { type: string; status: string; reason: string; message: string }[];
}

async function peerStatus(): Promise<PeerStatus> {
  return ((await client().get(Resources.bgpPeer, peerName))['status'] ?? {}) as PeerStatus;
}

/** What an agent writes: its own entry only, under its own field manager. */
async function agentReports(node: string, sessionState: string, announced: number): Promise<void> {
  const body = { apiVersion: API, kind: 'BGPPeer', metadata: { name: peerName }, status: { nodes: [{ node, sessionState, announced }] } };
  await kubectl(['apply', '--server-side', '--subresource=status', `--field-manager=sterlet-agent-${node}`, '--force-conflicts', '-f', '-'], { input: JSON.stringify(body) });
}

/** The row `kubectl get bgpp` prints (the API server's table, from the CRD's printer columns). */
async function row(): Promise<string> {
  const out = (await kubectl(['get', 'bgpp', peerName, '--no-headers'])).stdout;
  return out.trim().replace(/\s+/g, ' ');
}

function waitRow(pattern: RegExp): Promise<string> {
  let last = '';
  return waitFor(async () => { last = await row(); return pattern.test(last) ? last : false; }, { what: `kubectl get bgpp row ${pattern}`, timeoutMs: 20_000 })
    .catch((err: unknown) => { throw new Error(`${String(err)}; last row: ${last}`); });
}

beforeAll(async () => {
  await installCrds();
  ns = await createNamespace('bgp-status');
  for (const n of nodes) await reportNode(n, labels, []);
  await applyObjects(undefined, [{
    apiVersion: API, kind: 'BGPPeer', metadata: { name: peerName },
    spec: { peerAddress: '10.111.2.1', peerASN: 65000, localASN: 65001, nodeSelector: { matchLabels: labels } },
  }]);
  controller = startController({ leaseNamespace: ns, heartbeatTimeoutSeconds: 90 });
});

afterAll(async () => {
  await controller?.stop();
  await client().delete(Resources.bgpPeer, peerName).catch(() => undefined);
  await deleteNodes(nodes);
  if (ns !== '') await deleteNamespace(ns);
});

describe('BGPPeer summary status (controller)', () => {
  it('counts the selected nodes before any agent reports', async () => {
    const header = (await kubectl(['get', 'bgpp', peerName])).stdout.split('\n')[0] ?? '';
    expect(header).toMatch(/NAME\s+PEER\s+PEER-ASN\s+LOCAL-ASN\s+ESTABLISHED\s+ANNOUNCED\s+SESSIONS\s+AGE/);
    await waitRow(new RegExp(`^${peerName} 10\\.111\\.2\\.1 65000 65001 0/3 0 3 not reporting `));
    const st = await peerStatus();
    expect(st.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'NotEstablished' });
  });

  it('follows the agents\' session states and keeps every agent\'s entry', async () => {
    await agentReports(nodeA, 'Established', 2);
    await agentReports(nodeB, 'Active', 0);
    await waitRow(/ 1\/3 2 1 Established, 1 Active, 1 not reporting /);
    await agentReports(nodeB, 'Established', 2);
    await agentReports(nodeC, 'Established', 1);
    await waitRow(/ 3\/3 5 3 Established /);
    const st = await peerStatus();
    // The controller's apply named only the summary: all three agents' entries are still there.
    expect((st.nodes ?? []).map((n) => [n.node, n.sessionState, n.announced]).sort()).toEqual([[nodeA, 'Established', 2], [nodeB, 'Established', 2], [nodeC, 'Established', 1]]);
    expect(st.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'AllEstablished' });
    // Distinct owners: the controller owns the summary, each agent its entry.
    const meta = (await client().get(Resources.bgpPeer, peerName)).metadata as { managedFields?: { manager?: string; fieldsV1?: unknown }[] };
    const managed = meta.managedFields ?? [];
    const owner = (field: string): string[] => managed.filter((m) => JSON.stringify(m.fieldsV1 ?? {}).includes(field)).map((m) => m.manager ?? '');
    expect(owner('f:established')).toEqual(['sterlet-controller']);
    expect(owner(`"k:{\\"node\\":\\"${nodeB}\\"}"`)).toEqual([`sterlet-agent-${nodeB}`]);
  });

  it('recounts when a session drops and when a node leaves the selector', async () => {
    await agentReports(nodeC, 'Idle', 0);
    await waitRow(/ 2\/3 4 2 Established, 1 Idle /);
    expect((await peerStatus()).conditions?.find((c) => c.type === 'Ready')?.message).toContain(`${nodeC}: Idle`);
    // Node c no longer selected: its stale entry stays (the agent's), but no longer counts.
    await kubectl(['label', 'loadbalancernode', nodeC, 'sterlet.dev/test-']);
    await waitRow(/ 2\/2 4 2 Established /);
    expect((await peerStatus()).nodes?.some((n) => n.node === nodeC)).toBe(true);
  });
});
