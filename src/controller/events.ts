// Kubernetes Events (events.k8s.io/v1) for condition transitions, so
// `kubectl describe vip web` and `kubectl get events` tell the story. Emitting
// is best effort: an Event that cannot be written is logged, never retried and
// never fails a reconcile.

import { randomBytes } from 'node:crypto';
import type { Log } from '../common/log.ts';
import { DEFAULT_NAMESPACE } from '../api/meta.ts';
import { type KubeClient, type KubeObject, Resources } from '../kube/client.ts';
import { microTime } from '../kube/leader.ts';

export const REPORTING_CONTROLLER = 'sterlet.dev/controller';

export interface EventInput {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly note: string;
  readonly action?: string;
}

export class EventRecorder {
  readonly #client: KubeClient;
  readonly #instance: string;
  readonly #log: Log | undefined;

  constructor(client: KubeClient, instance: string, log?: Log) {
    this.#client = client;
    this.#instance = instance.slice(0, 128);
    this.#log = log;
  }

  readonly #pending: { regarding: KubeObject; event: EventInput }[] = [];
  #writers = 0;
  #dropped = 0;

  /**
   * Queues an Event without waiting: at most 2 writes in flight and 1,000
   * queued, so a burst (1,000 VIPs accepted at start-up) never delays status
   * writes; beyond that Events are dropped and counted, like client-go's
   * broadcaster does under pressure.
   */
  record(regarding: KubeObject, event: EventInput): void {
    if (this.#pending.length >= 1000) {
      this.#dropped++;
      return;
    }
    this.#pending.push({ regarding, event });
    if (this.#writers < 2) void this.#drain();
  }

  /** Events dropped because the queue was full. */
  get dropped(): number {
    return this.#dropped;
  }

  async #drain(): Promise<void> {
    this.#writers++;
    try {
      for (let next = this.#pending.shift(); next !== undefined; next = this.#pending.shift()) {
        await this.emit(next.regarding, next.event);
      }
    } finally {
      this.#writers--;
    }
  }

  /** Writes one Event about `regarding` (its namespace, or `default` for cluster-scoped objects). */
  async emit(regarding: KubeObject, event: EventInput): Promise<void> {
    const namespace = regarding.metadata.namespace ?? DEFAULT_NAMESPACE;
    const name = `${regarding.metadata.name}.${randomBytes(8).toString('hex')}`;
    const body: KubeObject = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: { name, namespace },
      eventTime: microTime(),
      reportingController: REPORTING_CONTROLLER,
      reportingInstance: this.#instance,
      action: event.action ?? 'Reconcile',
      reason: event.reason,
      type: event.type,
      note: event.note.length > 1024 ? `${event.note.slice(0, 1020)} ...` : event.note,
      regarding: {
        apiVersion: regarding.apiVersion,
        kind: regarding.kind,
        name: regarding.metadata.name,
        namespace: regarding.metadata.namespace,
        uid: regarding.metadata.uid,
        resourceVersion: regarding.metadata.resourceVersion,
      },
    };
    try {
      await this.#client.create(Resources.event, body, namespace);
    } catch (err) {
      // A namespace being deleted refuses new content; that is expected, not news.
      const terminating = err instanceof Error && err.message.includes('being terminated');
      (terminating ? this.#log?.debug.bind(this.#log) : this.#log?.warn.bind(this.#log))?.({ err, reason: event.reason, object: `${namespace}/${regarding.metadata.name}` }, 'could not write an Event');
    }
  }
}
