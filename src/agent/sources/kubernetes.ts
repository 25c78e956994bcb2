// The agent's Kubernetes source: follow the compiled state the controller
// publishes in each VirtualIP's status.compiled, keep the VIPs whose
// nodeSelector matches this node's LoadBalancerNode labels, and report what
// was applied in LoadBalancerNode/<node>.status. When the API server is
// unreachable nothing is emitted, so the runtime keeps forwarding on the last
// applied state; informers resume (or relist) when it returns, and status
// writes that failed are retried.

import { z } from 'zod';
import { CompiledVip } from '../../api/desired-state.ts';
import type { AppliedVirtualIP, LoadBalancerNodeStatus } from '../../api/load-balancer-node.ts';
import { API_VERSION, DEFAULT_NAMESPACE } from '../../api/meta.ts';
import { matchesSelector } from '../../compile/selector.ts';
import type { Log } from '../../common/log.ts';
import { isNotFound, KubeClient, type KubeObject, Resources } from '../../kube/client.ts';
import { sleep } from '../../common/delay.ts';
import { Informer } from '../../kube/informer.ts';
import { fromCompiledVip } from '../plan/desired.ts';
import type { DesiredVip } from '../plan/model.ts';
import type { ApplyFeedback, DesiredStateSource, SourceEvent } from './types.ts';

/** Facts about this node's dataplane, reported in its LoadBalancerNode status. */
export interface NodeFacts {
  readonly interface?: string;
  readonly xdpMode?: 'Native' | 'Generic';
  readonly programId?: number;
  readonly numaNodes?: readonly number[];
  readonly forwardingCpus?: readonly number[];
  readonly agentVersion?: string;
}


export interface KubernetesSourceOptions {
  /** The LoadBalancerNode name; normally the Kubernetes Node name. */
  readonly nodeName: string;
  /** Kubeconfig path; absent = in-cluster service account (or $KUBECONFIG). Ignored when `client` is given. */
  readonly kubeconfig?: string | undefined;
  readonly client?: KubeClient;
  /** Dataplane facts for the status (a function: the program id changes on upgrade). */
  readonly facts?: NodeFacts | (() => NodeFacts);
  readonly log?: Log;
  /** Quiet period that batches bursts of VirtualIP events into one state. Default 25 ms. */
  readonly debounceMs?: number;
}

export interface KubernetesSource extends DesiredStateSource {
  /** True while the VirtualIP watch is connected. */
  readonly connected: boolean;
}

type Compiled = { id: string; generation: number; vip: DesiredVip };

/** The labels every VIP nodeSelector is matched against: this node's LoadBalancerNode labels. */
function nodeLabels(node: KubeObject | undefined): Record<string, string> {
  return node?.metadata.labels ?? {};
}

export function kubernetesSource(options: KubernetesSourceOptions): KubernetesSource {
  const client = options.client ?? KubeClient.create({ kubeconfig: options.kubeconfig, userAgent: `sterlet-agent/${options.nodeName}` });
  const log = options.log;
  const name = options.nodeName;
  const vips = new Informer(client, Resources.virtualIP, { ...(log === undefined ? {} : { log }), onChange: () => poke() });
  const node = new Informer(client, Resources.loadBalancerNode, {
    fieldSelector: `metadata.name=${name}`,
    ...(log === undefined ? {} : { log }),
    onChange: (_ev, obj, old) => {
      if (JSON.stringify(obj.metadata.labels ?? {}) !== JSON.stringify(old?.metadata.labels ?? {})) poke();
    },
  });
  let wake: (() => void) | undefined;
  let dirty = false;
  let debounce: NodeJS.Timeout | undefined;
  const poke = (): void => {
    if (debounce !== undefined) return;
    debounce = setTimeout(() => {
      debounce = undefined;
      dirty = true;
      wake?.();
    }, options.debounceMs ?? 25);
  };
  /** What the last emitted state contained, for generation numbers and invalid entries in reports. */
  let published = new Map<string, Compiled>();
  let invalid: AppliedVirtualIP[] = [];
  let lastOk: AppliedVirtualIP[] = [];
  let ready: { ok: boolean; since: string } | undefined;
  const reporter = new StatusReporter(client, name, log);
  const parsedCache = new WeakMap<KubeObject, ReturnType<typeof CompiledVip.safeParse>>();

  function compute(): { vips: DesiredVip[]; compiled: Map<string, Compiled>; invalid: AppliedVirtualIP[] } {
    const labels = nodeLabels(node.get(name));
    const compiled = new Map<string, Compiled>();
    const bad: AppliedVirtualIP[] = [];
    for (const raw of vips.list()) {
      if (raw.metadata.deletionTimestamp !== undefined) continue; // being withdrawn
      const status = raw['status'] as { compiled?: unknown } | undefined;
      if (status?.compiled === undefined || status.compiled === null) continue;
      const id = `${raw.metadata.namespace ?? DEFAULT_NAMESPACE}/${raw.metadata.name}`;
      // Parsed once per object version: a burst of events re-reads only what changed.
      let parsed = parsedCache.get(raw);
      if (parsed === undefined) {
        parsed = CompiledVip.safeParse(status.compiled);
        parsedCache.set(raw, parsed);
      }
      if (!parsed.success) {
        bad.push({ id, generation: raw.metadata.generation ?? 0, error: { code: 'COMPILED_STATE_INVALID', message: `status.compiled does not parse: ${z.prettifyError(parsed.error).slice(0, 1000)}. Upgrade the agent to the controller's version.` } });
        continue;
      }
      if (!matchesSelector(parsed.data.nodeSelector, labels)) continue;
      compiled.set(id, { id, generation: parsed.data.generation, vip: fromCompiledVip({ id, ...parsed.data }) });
    }
    const list = [...compiled.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((c) => c.vip);
    return { vips: list, compiled, invalid: bad };
  }

  async function* events(signal: AbortSignal): AsyncGenerator<SourceEvent> {
    const runs = [vips.run(signal), node.run(signal)];
    const onAbort = (): void => wake?.();
    signal.addEventListener('abort', onAbort);
    try {
      await ensureNode(client, name, signal, log);
      await Promise.all([vips.waitForSync(signal), node.waitForSync(signal)]);
      log?.info({ node: name, vips: vips.list().length }, 'following VirtualIPs from the API server');
      let last: string | undefined;
      dirty = true;
      while (!signal.aborted) {
        if (!dirty) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          continue;
        }
        dirty = false;
        const next = compute();
        invalid = next.invalid;
        const text = JSON.stringify(next.vips);
        if (text === last) continue; // only conditions changed: nothing to program
        last = text;
        published = next.compiled;
        yield { kind: 'state', vips: next.vips, origin: `kubernetes:${client.server.host}` };
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    } finally {
      signal.removeEventListener('abort', onAbort);
      clearTimeout(debounce);
      reporter.stop();
      await Promise.allSettled(runs);
    }
  }

  async function report(feedback: ApplyFeedback): Promise<void> {
    const facts = typeof options.facts === 'function' ? options.facts() : (options.facts ?? {});
    const now = new Date().toISOString();
    let entries: AppliedVirtualIP[];
    if (feedback.ok) {
      entries = feedback.vips.map((v) => {
        const e: AppliedVirtualIP = { id: v.id, generation: published.get(v.id)?.generation ?? 0 };
        if (v.revision !== undefined) e.revision = v.revision;
        if (v.ringFingerprint !== undefined) e.ringFingerprint = v.ringFingerprint;
        const backends = published.get(v.id)?.vip.backends.length;
        if (backends !== undefined) e.backends = backends;
        if (v.error !== undefined) e.error = { code: (v.code ?? 'APPLY_FAILED').slice(0, 64), message: v.error.slice(0, 4000) };
        if (v.healthChecked === true) {
          e.healthChecked = true;
          if (v.unhealthyBackends !== undefined && v.unhealthyBackends.length > 0) {
            e.unhealthyBackends = v.unhealthyBackends.slice(0, 1024).map((u) => ({ address: u.address, message: u.message.slice(0, 256) }));
          }
        }
        return e;
      });
      lastOk = entries;
    } else {
      // The maps still hold the last good state: report it, plus the error for what is not applied.
      const applied = new Map(lastOk.map((e) => [e.id, e]));
      entries = [...lastOk];
      for (const c of published.values()) {
        if (applied.get(c.id)?.revision === c.vip.revision) continue;
        entries.push({ id: c.id, generation: c.generation, error: { code: 'APPLY_FAILED', message: (feedback.error ?? 'apply failed').slice(0, 4000) } });
      }
    }
    const ids = new Set(entries.map((e) => e.id));
    entries.push(...invalid.filter((e) => !ids.has(e.id)));
    entries.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    if (ready?.ok !== feedback.ok) ready = { ok: feedback.ok, since: now };
    const status: LoadBalancerNodeStatus = {
      virtualIPs: entries,
      lastAppliedTime: now,
      conditions: [{
        type: 'Ready',
        status: feedback.ok ? 'True' : 'False',
        reason: feedback.ok ? 'Applied' : 'ApplyFailed',
        message: feedback.ok ? `${entries.length} VirtualIPs programmed` : (feedback.error ?? 'apply failed').slice(0, 4000),
        lastTransitionTime: ready.since,
      }],
    };
    if (facts.interface !== undefined) status.interface = facts.interface;
    if (facts.xdpMode !== undefined) status.xdpMode = facts.xdpMode;
    if (facts.programId !== undefined) status.programId = facts.programId;
    if (facts.numaNodes !== undefined) status.numaNodes = [...facts.numaNodes];
    if (facts.forwardingCpus !== undefined) status.forwardingCpus = [...facts.forwardingCpus];
    if (facts.agentVersion !== undefined) status.agentVersion = facts.agentVersion;
    reporter.write(status);
  }

  return {
    name: `kubernetes:${name}`,
    reportFlows: (flows) => reporter.write({ backendFlows: flows }),
    get connected() {
      return vips.connected;
    },
    events,
    report,
  };
}

/** Creates LoadBalancerNode/<name> when missing, labelled like the Node (so nodeSelectors can use Node labels). */
async function ensureNode(client: KubeClient, name: string, signal: AbortSignal, log: Log | undefined): Promise<void> {
  let delay = 250;
  while (!signal.aborted) {
    try {
      await client.get(Resources.loadBalancerNode, name);
      return;
    } catch (err) {
      if (isNotFound(err)) {
        let labels: Record<string, string> = {};
        try {
          labels = (await client.get(Resources.node, name)).metadata.labels ?? {};
        } catch {
          // No Node object (hosts outside the cluster, test control planes): no labels.
        }
        try {
          await client.create(Resources.loadBalancerNode, { apiVersion: API_VERSION, kind: 'LoadBalancerNode', metadata: { name, labels } });
          log?.info({ node: name, labels }, 'registered LoadBalancerNode');
          return;
        } catch (createErr) {
          err = createErr;
        }
      }
      log?.warn({ node: name, err, retryMs: delay }, 'cannot register the LoadBalancerNode yet; retrying');
    }
    await sleep(delay, signal);
    delay = Math.min(10_000, delay * 2);
  }
}

/** Writes node status one at a time, newest wins; a failed write is retried until it lands or a newer one replaces it. */
class StatusReporter {
  readonly #client: KubeClient;
  readonly #name: string;
  readonly #log: Log | undefined;
  #pending: LoadBalancerNodeStatus | undefined;
  #busy = false;
  #retry: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(client: KubeClient, name: string, log: Log | undefined) {
    this.#client = client;
    this.#name = name;
    this.#log = log;
  }

  /** Merge-patch fields; a write not yet sent is merged with this one (field by field, newest wins). */
  write(status: LoadBalancerNodeStatus): void {
    this.#pending = { ...this.#pending, ...status };
    void this.#flush();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
  }

  async #flush(): Promise<void> {
    if (this.#busy || this.#stopped) return;
    this.#busy = true;
    try {
      while (this.#pending !== undefined && !this.#stopped) {
        const status = this.#pending;
        this.#pending = undefined;
        try {
          // virtualIPs and conditions are lists: a merge patch replaces them whole.
          await this.#client.patchStatus(Resources.loadBalancerNode, this.#name, status);
        } catch (err) {
          this.#pending = { ...status, ...(this.#pending as LoadBalancerNodeStatus | undefined) }; // newer fields win
          this.#log?.warn({ node: this.#name, err }, 'cannot write LoadBalancerNode status; retrying in 2 s');
          clearTimeout(this.#retry);
          this.#retry = setTimeout(() => void this.#flush(), 2_000);
          this.#retry.unref();
          return;
        }
      }
    } finally {
      this.#busy = false;
    }
  }
}
