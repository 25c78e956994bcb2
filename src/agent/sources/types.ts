// A source of desired state is an async stream: it yields a complete desired
// state (level, never a delta) whenever it changes, or an `invalid` event when
// its input cannot be used — the runtime then keeps the last good state
// programmed. The file source (file.ts) and the Kubernetes source plug in here.

import type { BackendFlows } from '../../api/load-balancer-node.ts';
import type { DesiredVip } from '../plan/model.ts';

export interface SourceProblem {
  /** Stable code, e.g. MANIFEST_INVALID or a compile problem code. */
  readonly code: string;
  /** Where: file, document, kind/namespace/name, field path — whatever the source knows. */
  readonly where: string;
  readonly message: string;
}

export type SourceEvent =
  | {
      readonly kind: 'state';
      /** Every VIP this node must serve; VIPs absent here get removed. */
      readonly vips: readonly DesiredVip[];
      /** Human-readable provenance for logs, e.g. the manifest path. */
      readonly origin: string;
    }
  | {
      readonly kind: 'invalid';
      readonly origin: string;
      readonly problems: readonly SourceProblem[];
    };

/** What this node's probes say about one VIP's backends (LoadBalancerNode status). */
export interface VipHealthReport {
  readonly healthChecked: boolean;
  /** Backends failing their check from this node, with the last failure. */
  readonly unhealthyBackends: readonly { readonly address: string; readonly message: string }[];
}

/** What the runtime tells a source after each apply (the Kubernetes source writes node status). */
export interface ApplyFeedback {
  readonly ok: boolean;
  /** Per VIP id: revision and fingerprint of what is programmed, or the error. */
  readonly vips: readonly ({
    id: string;
    revision?: string | undefined;
    ringFingerprint?: string | undefined;
    error?: string | undefined;
    /** Stable code of `error` (e.g. AGENT_DUPLICATE_VIP); default APPLY_FAILED. */
    code?: string | undefined;
  } & Partial<VipHealthReport>)[];
  readonly error?: string | undefined;
}

export interface DesiredStateSource {
  readonly name: string;
  /** Yields until `signal` aborts; must yield an initial event promptly. */
  events(signal: AbortSignal): AsyncIterable<SourceEvent>;
  /** Optional: called after every apply attempt with its outcome. */
  report?(feedback: ApplyFeedback): Promise<void>;
  /** Optional: flows left per backend, whenever the counts change (the Kubernetes source writes node status). */
  reportFlows?(flows: BackendFlows): void;
}
