// The bridge from the API's compiled desired state (src/api/desired-state.ts,
// what the controller publishes and the standalone agent compiles) to the
// agent's model. Every source converts through here.

import type { DesiredState as ApiDesiredState, DesiredVip as ApiDesiredVip } from '../../api/desired-state.ts';
import type { DesiredVip } from './model.ts';

export function fromCompiledVip(vip: ApiDesiredVip): DesiredVip {
  return {
    id: vip.id,
    revision: vip.revision,
    key: { ...vip.key },
    flags: {
      hash: vip.flags.hash,
      connectionTracking: vip.flags.connectionTracking === 'Enabled',
      quic: vip.flags.quic,
      encapsulation: vip.flags.encapsulation,
    },
    backends: vip.backends.map((b) => ({
      address: b.address,
      family: b.family,
      weight: b.weight,
      quicServerId: b.quicServerId,
      name: b.name,
      ...(b.healthCheck === undefined ? {} : { healthCheck: b.healthCheck }),
      ...(b.unchecked === true ? { unchecked: true } : {}),
      ...(b.unhealthy === true ? { unhealthy: true } : {}),
    })),
    ...(vip.announcement === undefined ? {} : { announcement: vip.announcement }),
    ...(vip.healthCheck === undefined ? {} : { healthCheck: vip.healthCheck }),
  };
}

export function fromCompiledState(state: ApiDesiredState): DesiredVip[] {
  return state.vips.map(fromCompiledVip);
}
