// BGPPeer: the summary status (established/selected, session states counted,
// routes announced, Ready) from the agents' per-node entries and the
// LoadBalancerNodes the peer selects. Written by server-side apply under the
// controller's field manager and naming only the summary fields, so the
// entries each agent owns in status.nodes are never touched.

import { z } from 'zod';
import { BGPPeer } from '../../api/bgp-peer.ts';
import { API_VERSION } from '../../api/meta.ts';
import { type KubeObject, Resources } from '../../kube/client.ts';
import { bgpPeerSummary, summaryWritten } from '../bgp-peer-status.ts';
import type { ReconcileResult } from '../work.ts';
import { nodeViews, type ReconcileContext } from './context.ts';
import { FIELD_MANAGER } from './finalizer.ts';

export async function reconcileBgpPeer(ctx: ReconcileContext, name: string): Promise<ReconcileResult> {
  const { cache, client } = ctx;
  const raw = cache.bgpPeers.get(name);
  if (raw === undefined || raw.metadata.deletionTimestamp !== undefined) return {};
  const parsed = cache.parse(BGPPeer, raw);
  if (parsed instanceof z.ZodError) {
    ctx.log.warn({ bgpPeer: name, err: parsed.message }, 'BGPPeer does not parse; the CRD schema should have rejected it');
    return {};
  }
  const summary = bgpPeerSummary(parsed, nodeViews(ctx), new Date().toISOString());
  if (summaryWritten(parsed.status, summary)) return {};
  const body = { apiVersion: API_VERSION, kind: 'BGPPeer', metadata: { name, ...(raw.metadata.uid === undefined ? {} : { uid: raw.metadata.uid }) }, status: summary };
  const written = await client.apply(Resources.bgpPeer, body as KubeObject, FIELD_MANAGER, { force: true, subresource: 'status' });
  ctx.metrics.statusWrites.inc({ kind: 'BGPPeer' });
  cache.bgpPeers.upsert(written);
  return {};
}
