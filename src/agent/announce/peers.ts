// BGPPeer objects -> the sessions the speaker should hold. Standalone, the
// BGPPeer manifests sit beside the VirtualIPs (--manifests) and are re-read
// every tick's caller interval; a directory with errors keeps the last good
// list (the file source reports those errors for the VIPs already).

import type { BGPPeer } from '../../api/bgp-peer.ts';
import { readManifests } from '../../compile/manifests.ts';
import { matchesSelector } from '../../compile/selector.ts';
import type { Labels } from '../../api/meta.ts';
import { SterletError } from '../../common/errors.ts';
import type { SpeakerPeer } from './gobgp.ts';

/** The sessions a node with these labels holds; a password needs `password` to resolve the Secret. */
export function peersFor(objects: readonly BGPPeer[], labels: Labels, password?: (peer: BGPPeer) => string): SpeakerPeer[] {
  return objects
    .filter((p) => matchesSelector(p.spec.nodeSelector, labels))
    .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1))
    .map((p) => {
      const ref = p.spec.passwordSecretRef;
      if (ref !== undefined && password === undefined) {
        throw new SterletError('BGP_PEER_PASSWORD_UNAVAILABLE', `BGPPeer ${p.metadata.name}: spec.passwordSecretRef names Secret ${ref.namespace}/${ref.name}, which a standalone agent cannot read`, {
          fix: 'run the agent in a cluster, or drop spec.passwordSecretRef for a standalone host',
        });
      }
      return {
        address: p.spec.peerAddress,
        peerAsn: p.spec.peerASN,
        localAsn: p.spec.localASN,
        holdTimeSeconds: p.spec.holdTimeSeconds,
        families: p.spec.addressFamilies,
        port: p.spec.port,
        ...(ref === undefined || password === undefined ? {} : { password: password(p) }),
      };
    });
}

/** Standalone: the BGPPeer manifests under `path`; undefined while the directory has errors. */
export function manifestPeers(path: string, labels: Labels = {}): () => Promise<SpeakerPeer[] | undefined> {
  return async () => {
    const set = await readManifests(path);
    if (set.errors.length > 0) return undefined;
    return peersFor(set.objects.filter((o): o is BGPPeer => o.kind === 'BGPPeer'), labels);
  };
}
