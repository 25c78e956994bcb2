// LoadBalancerNode (cluster-scoped, short name lbn): one per agent node,
// named after the Node; its status is written only by that node's agent and
// is what the controller reads to decide whether a VIP is Programmed.
import { z } from 'zod';
import { API_VERSION, conditions, ObjectMeta, observedGeneration } from './meta.ts';

export const XdpMode = z.enum(['Native', 'Generic']);

export const AppliedVirtualIP = z
  .strictObject({
    id: z
      .string()
      .min(3)
      .max(317)
      .meta({ description: 'The VIP id from the desired state: namespace/name of the VirtualIP.' }),
    generation: z.int().min(0).meta({ description: 'The VirtualIP metadata.generation the agent applied.' }),
    revision: z
      .string()
      .max(64)
      .optional()
      .meta({ description: 'Content hash of the desired-state entry applied (changes when backends change).' }),
    ringFingerprint: z
      .string()
      .max(64)
      .optional()
      .meta({ description: 'Hash of the Maglev ring programmed for this VIP; equal on every node when consistent.' }),
    backends: z.int().min(0).optional().meta({ description: 'Backends programmed for this VIP.' }),
    healthChecked: z
      .boolean()
      .optional()
      .meta({ description: "true: this node probes the VIP's backends (through the tunnel); its view counts in the fleet's health decision." }),
    unhealthyBackends: z
      .array(
        z.strictObject({
          address: z.string().max(45).meta({ description: 'Backend address.' }),
          message: z.string().max(256).meta({ description: 'Last probe failure seen from this node.' }),
        }),
      )
      .max(1024)
      .optional()
      .meta({ description: 'Backends failing their health check from this node (past unhealthyThreshold); absent or empty: all healthy.' }),
    error: z
      .strictObject({
        code: z.string().max(64).meta({ description: 'Stable error code.' }),
        message: z.string().max(4096).meta({ description: 'What failed, why, and what to do.' }),
      })
      .optional()
      .meta({ description: 'Set when the agent could not program this VIP.' }),
  })
  .meta({ description: 'What the agent programmed for one VIP.' });
export type AppliedVirtualIP = z.infer<typeof AppliedVirtualIP>;

export const BackendFlowCount = z
  .strictObject({
    address: z.string().max(45).meta({ description: 'Backend address (as in Backend spec.address).' }),
    flows: z.int().min(0).meta({ description: 'Connection-table entries on this node that name the backend (every per-CPU table and the fallback).' }),
    recent: z.int().min(0).meta({ description: 'Of those, entries that saw a packet within recentSeconds.' }),
  })
  .meta({ description: 'Flows one node still sends to one backend.' });
export type BackendFlowCount = z.infer<typeof BackendFlowCount>;

export const BackendFlows = z
  .strictObject({
    recentSeconds: z.number().min(0).meta({ description: 'Idle threshold: an entry seen within this many seconds is recent (agent --flow-recent).' }),
    changedTime: z.iso.datetime().meta({ description: 'When these counts last changed (the agent writes only changes).' }),
    backends: z
      .array(BackendFlowCount)
      .max(65536)
      .meta({
        description: 'Backends with at least one entry; a backend not listed has none on this node.',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['address'],
      }),
  })
  .meta({ description: 'Flows left per backend on this node, for draining (Backend condition Drained).' });
export type BackendFlows = z.infer<typeof BackendFlows>;

export const LoadBalancerNodeStatus = z
  .strictObject({
    observedGeneration: observedGeneration(),
    conditions: conditions('Ready (dataplane attached and state applied) and other agent conditions.'),
    interface: z.string().max(15).optional().meta({ description: 'Network interface the XDP balancer is attached to.' }),
    xdpMode: XdpMode.optional().meta({ description: 'XDP attach mode: Native (driver) or Generic (skb).' }),
    programId: z.int().min(0).optional().meta({ description: 'Kernel id of the attached XDP program.' }),
    numaNodes: z
      .array(z.int().min(0))
      .max(1024)
      .optional()
      .meta({ description: 'NUMA nodes the forwarding CPUs belong to.' }),
    forwardingCpus: z
      .array(z.int().min(0))
      .max(8192)
      .optional()
      .meta({ description: 'CPUs that forward packets (each has its own connection table).' }),
    virtualIPs: z
      .array(AppliedVirtualIP)
      .optional()
      .meta({
        description: 'Per VIP: the applied generation, ring fingerprint and any error.',
        'x-kubernetes-list-type': 'map',
        'x-kubernetes-list-map-keys': ['id'],
      }),
    backendFlows: BackendFlows.optional(),
    lastAppliedTime: z.iso.datetime().optional().meta({ description: 'When the agent last finished applying state.' }),
    agentVersion: z.string().max(64).optional().meta({ description: 'Version of the agent that wrote this status.' }),
  })
  .meta({ description: 'Dataplane state reported by the agent on this node.' });
export type LoadBalancerNodeStatus = z.infer<typeof LoadBalancerNodeStatus>;

export const LoadBalancerNode = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('LoadBalancerNode'),
  metadata: ObjectMeta,
  status: LoadBalancerNodeStatus.optional(),
});
export type LoadBalancerNode = z.infer<typeof LoadBalancerNode>;
