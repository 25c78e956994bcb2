// BGPPeer on a real kube-apiserver: defaults, the OpenAPI + CEL rules refuse
// bad ASNs, addresses, hold times and families naming the field, and the
// per-node status (what each agent reports: session state, VIPs announced)
// is kept by the status subresource, merged per node, and shown by the
// printer columns.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apply, getJson, kubectl } from '../support/kube/index.ts';
import { installCrds } from '../support/kube/crds.ts';

const API = 'sterlet.dev/v1alpha1';
const NAME = `tor-${String(process.pid)}`;

function peer(spec: Record<string, unknown>, name = `bad-${String(process.pid)}`): Record<string, unknown> {
  return { apiVersion: API, kind: 'BGPPeer', metadata: { name }, spec: { peerAddress: '10.111.1.1', peerASN: 65000, localASN: 65001, ...spec } };
}

beforeAll(async () => {
  await installCrds();
});
afterAll(async () => {
  await kubectl(['delete', 'bgppeer', NAME, '--ignore-not-found', '--wait=false'], { allowFail: true });
});

describe('BGPPeer CRD', () => {
  it('accepts a valid peer and fills the defaults', async () => {
    await apply(JSON.stringify(peer({}, NAME)));
    const got = await getJson<{ spec: Record<string, unknown> }>(['bgppeer', NAME]);
    expect(got.spec).toEqual({ peerAddress: '10.111.1.1', peerASN: 65000, localASN: 65001, port: 179, holdTimeSeconds: 90, addressFamilies: ['IPv4', 'IPv6'] });
  });

  const cases: { name: string; spec: Record<string, unknown>; field: RegExp }[] = [
    { name: 'ASN 0', spec: { peerASN: 0 }, field: /spec\.peerASN/ },
    { name: 'ASN above 4294967294', spec: { localASN: 4294967295 }, field: /spec\.localASN/ },
    { name: 'ASN as text', spec: { peerASN: 'AS65000' }, field: /spec\.peerASN/ },
    { name: 'malformed peer address', spec: { peerAddress: '10.111.1.300' }, field: /spec\.peerAddress/ },
    { name: 'loopback peer address', spec: { peerAddress: '127.0.0.1' }, field: /spec\.peerAddress/ },
    { name: 'hold time 2 s', spec: { holdTimeSeconds: 2 }, field: /spec\.holdTimeSeconds/ },
    { name: 'repeated family', spec: { addressFamilies: ['IPv4', 'IPv4'] }, field: /spec\.addressFamilies/ },
    { name: 'unknown family', spec: { addressFamilies: ['L2VPN'] }, field: /spec\.addressFamilies/ },
    { name: 'unknown field', spec: { peerAsn: 1 }, field: /spec\.peerAsn/ },
  ];

  it.each(cases)('kubectl apply refuses: $name', async ({ spec, field }) => {
    const result = await apply(JSON.stringify(peer(spec)), [], { allowFail: true });
    expect(result.code, `kubectl accepted it: ${result.stdout}`).not.toBe(0);
    expect(result.stderr).toMatch(field);
  });

  it('keeps per-node session status from each node (server-side apply per node) beside the summary, and prints it', async () => {
    for (const [node, state, announced] of [['lb-1', 'Established', 2], ['lb-2', 'Active', 0]] as const) {
      const status = { apiVersion: API, kind: 'BGPPeer', metadata: { name: NAME }, status: { nodes: [{ node, sessionState: state, announced }] } };
      await kubectl(['apply', '--server-side', '--subresource=status', `--field-manager=sterlet-agent-${node}`, '--force-conflicts', '-f', '-'], { input: JSON.stringify(status) });
    }
    // The summary fields under another field manager (the controller's) leave the entries alone.
    const summary = { apiVersion: API, kind: 'BGPPeer', metadata: { name: NAME }, status: { established: '1/2', announced: 2, sessions: '1 Established, 1 Active' } };
    await kubectl(['apply', '--server-side', '--subresource=status', '--field-manager=sterlet-controller', '--force-conflicts', '-f', '-'], { input: JSON.stringify(summary) });
    const got = await getJson<{ status: { nodes: { node: string; sessionState: string; announced: number }[] } }>(['bgppeer', NAME]);
    expect(got.status.nodes.map((n) => [n.node, n.sessionState, n.announced]).sort()).toEqual([['lb-1', 'Established', 2], ['lb-2', 'Active', 0]]);
    const table = (await kubectl(['get', 'bgpp', NAME])).stdout;
    expect(table).toMatch(/PEER\s+PEER-ASN\s+LOCAL-ASN\s+ESTABLISHED\s+ANNOUNCED\s+SESSIONS/);
    // A controller of another test file running meanwhile may have recounted this peer (no nodeSelector: every node).
    expect(table).toMatch(new RegExp(`${NAME}\\s+10\\.111\\.1\\.1\\s+65000\\s+65001\\s+\\d+/\\d+\\s+\\d+\\s+\\d+ `));
    const bad = { apiVersion: API, kind: 'BGPPeer', metadata: { name: NAME }, status: { nodes: [{ node: 'lb-3', sessionState: 'Up', announced: 0 }] } };
    const refused = await kubectl(['apply', '--server-side', '--subresource=status', '--field-manager=sterlet-agent-lb-3', '-f', '-'], { input: JSON.stringify(bad), allowFail: true });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/status\.nodes\[\d+\]\.sessionState/);
  });
});
