// Cluster mode: the BGPPeer objects that select this node (by its
// LoadBalancerNode labels), their passwords from Secrets, and this node's
// entry in each BGPPeer's status.nodes, written by server-side apply under a
// field manager of its own (sterlet-agent-<node>), so nodes never overwrite
// each other's entries and need no read-modify-write.

import { BGPPeer, type BGPPeerNodeStatus } from '../../api/bgp-peer.ts';
import { API_VERSION } from '../../api/meta.ts';
import { errorText } from '../../common/errors.ts';
import { KubeClient, Resources, type KubeObject } from '../../kube/client.ts';
import { Informer } from '../../kube/informer.ts';
import type { Log } from '../../common/log.ts';
import type { AnnouncerStatus } from './announcer.ts';
import type { SpeakerPeer } from './gobgp.ts';
import { peersFor } from './peers.ts';

export interface ClusterPeersOptions {
  readonly client: KubeClient;
  readonly nodeName: string;
  readonly log: Log;
  /** Secrets are re-read this often (a rotated password reaches the next session). Default 60 s. */
  readonly secretTtlMs?: number;
}

export interface ClusterPeers {
  /** Runs the informers until `signal` aborts. */
  run(signal: AbortSignal): Promise<void>;
  /** Undefined until the BGPPeers were listed once. */
  peers(): Promise<SpeakerPeer[] | undefined>;
  /** Writes this node's session state into each of its BGPPeers (only what changed). */
  report(status: AnnouncerStatus): Promise<void>;
}

export function clusterPeers(o: ClusterPeersOptions): ClusterPeers {
  const { client, nodeName, log } = o;
  const peerObjects = new Informer(client, Resources.bgpPeer, { log });
  const node = new Informer(client, Resources.loadBalancerNode, { fieldSelector: `metadata.name=${nodeName}`, log });
  const secrets = new Map<string, { value: string; at: number }>();
  const written = new Map<string, string>();
  const transitions = new Map<string, { state: string; at: string }>();
  let mine: BGPPeer[] = [];

  const parsed = (): BGPPeer[] => {
    const out: BGPPeer[] = [];
    for (const obj of peerObjects.list()) {
      const result = BGPPeer.safeParse(obj);
      if (result.success) out.push(result.data);
      else log.warn({ bgpPeer: obj.metadata.name, err: result.error.issues[0]?.message }, 'BGPPeer does not parse; skipped');
    }
    return out;
  };

  const password = async (peer: BGPPeer): Promise<string | undefined> => {
    const ref = peer.spec.passwordSecretRef;
    if (ref === undefined) return undefined;
    const key = `${ref.namespace}/${ref.name}/${ref.key}`;
    const cached = secrets.get(key);
    if (cached !== undefined && performance.now() - cached.at < (o.secretTtlMs ?? 60_000)) return cached.value;
    const secret = (await client.get(Resources.secret, ref.name, ref.namespace)) as KubeObject & { data?: Record<string, string> };
    const data = secret.data?.[ref.key];
    if (data === undefined) throw new Error(`BGPPeer ${peer.metadata.name}: Secret ${ref.namespace}/${ref.name} has no key ${ref.key}`);
    const value = Buffer.from(data, 'base64').toString('utf8');
    secrets.set(key, { value, at: performance.now() });
    return value;
  };

  return {
    async run(signal) {
      await Promise.all([peerObjects.run(signal), node.run(signal)]);
    },
    async peers() {
      if (!peerObjects.synced || !node.synced) return undefined;
      const labels = node.get(nodeName)?.metadata.labels ?? {};
      const all = parsed();
      const passwords = new Map<string, string>();
      for (const peer of all) {
        const value = await password(peer);
        if (value !== undefined) passwords.set(peer.metadata.name, value);
      }
      const selected = peersFor(all, labels, (p) => passwords.get(p.metadata.name) ?? '');
      const addresses = new Set(selected.map((p) => p.address));
      mine = all.filter((p) => addresses.has(p.spec.peerAddress));
      return selected;
    },
    async report(status) {
      for (const peer of mine) {
        const session = status.peers.find((s) => s.address === peer.spec.peerAddress);
        const state = session?.state ?? 'Unknown';
        const families = new Set(peer.spec.addressFamilies);
        const announced = status.announced.filter((prefix) => families.has(prefix.includes(':') ? 'IPv6' : 'IPv4')).length;
        const last = transitions.get(peer.metadata.name);
        if (last?.state !== state) transitions.set(peer.metadata.name, { state, at: new Date().toISOString().replace(/\.\d+Z$/, 'Z') });
        const entry: BGPPeerNodeStatus = { node: nodeName, sessionState: state, announced, lastTransitionTime: transitions.get(peer.metadata.name)?.at };
        const text = JSON.stringify(entry);
        if (written.get(peer.metadata.name) === text) continue;
        try {
          await client.apply(
            Resources.bgpPeer,
            { apiVersion: API_VERSION, kind: 'BGPPeer', metadata: { name: peer.metadata.name }, status: { nodes: [entry] } } as KubeObject,
            `sterlet-agent-${nodeName}`,
            { force: true, subresource: 'status' },
          );
          written.set(peer.metadata.name, text);
        } catch (error) {
          log.warn({ bgpPeer: peer.metadata.name, err: errorText(error) }, 'writing BGPPeer status failed; retrying next tick');
        }
      }
    },
  };
}
