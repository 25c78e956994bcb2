// `sterlet controller`: caches start at once on every replica (a standby is
// warm when it takes over); only the Lease holder runs reconcile workers.
// Resolves when `signal` aborts, after releasing the Lease.

import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { SterletError } from '../common/errors.ts';
import { isConflict, isNotFound, KubeClient } from '../kube/client.ts';
import { sleep } from '../common/delay.ts';
import { createLogger, type Logger } from '../common/log.ts';
import { ControllerCache } from './cache.ts';
import { EventRecorder } from './events.ts';
import { LeaderElector } from '../kube/leader.ts';
import { ControllerMetrics, type MetricsServer, serveMetrics } from './metrics.ts';
import type { LabelSelector } from '../api/meta.ts';
import { Reconciler } from './reconcile/index.ts';
import { DEFAULT_SERVICE_SETTINGS, SERVICE_FIELD_MANAGER } from './services/derive.ts';
import { ServiceReconciler } from './services/reconcile.ts';
import { refResolver } from './services/resolve.ts';
import { type ReconcileResult, WORK_KINDS, type WorkKind } from './work.ts';
import { WorkQueue } from './workqueue.ts';

export interface ControllerOptions {
  /** Kubeconfig path; absent = in-cluster service account (or $KUBECONFIG). */
  readonly kubeconfig?: string | undefined;
  /** Default true. With false, this process reconciles without a Lease (one replica only!). */
  readonly leaderElect?: boolean | undefined;
  readonly leaseNamespace?: string | undefined;
  readonly leaseName?: string | undefined;
  /** Seconds; default 15. Failover happens within this time after the leader dies. */
  readonly leaseDurationSeconds?: number | undefined;
  /** host:port for /metrics, /healthz, /readyz; default 0.0.0.0:8080; "" disables. */
  readonly metricsAddr?: string | undefined;
  readonly logLevel?: string | undefined;
  /** Lease holder identity; default $POD_NAME or hostname, plus a random suffix. */
  readonly identity?: string | undefined;
  /** Nodes whose agent has not reported for this long stop counting (default 90 s). */
  readonly heartbeatTimeoutSeconds?: number | undefined;
  /** Re-check every VirtualIP this often as a safety net (default 600 s; node liveness is checked every 2 s). */
  readonly resyncSeconds?: number | undefined;
  readonly workers?: number | undefined;
  /** Services of type LoadBalancer (issue 11). */
  readonly services?: {
    /** Default true; false ignores Services (the chart then grants no Service RBAC). */
    readonly enabled?: boolean | undefined;
    /** spec.loadBalancerClass served; default sterlet.dev/xdp. */
    readonly loadBalancerClass?: string | undefined;
    /** Also serve LoadBalancer Services without a class; default false. */
    readonly defaultClass?: boolean | undefined;
    /** Kubernetes Nodes that may be backends (they run decap and kube-proxy); default every node. */
    readonly nodeSelector?: LabelSelector | undefined;
  } | undefined;
  readonly log?: Logger | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface RunningController {
  readonly metricsAddress: string | undefined;
}

const DEFAULTS = { leaseNamespace: 'sterlet-system', leaseName: 'sterlet-controller', metricsAddr: '0.0.0.0:8080', workers: 16 } as const;

/** Runs the controller until `options.signal` aborts (or SIGTERM/SIGINT when no signal is given). */
export async function runController(options: ControllerOptions = {}): Promise<void> {
  const log = options.log ?? createLogger({ name: 'controller', ...(options.logLevel === undefined ? {} : { level: options.logLevel }) });
  const workers = options.workers ?? DEFAULTS.workers;
  if (!Number.isInteger(workers) || workers < 1) {
    throw new SterletError('CONTROLLER_OPTIONS_INVALID', `workers must be a positive integer, got ${workers}`, { fix: 'pass 1 or more' });
  }
  const signal = options.signal ?? processSignal(log);
  const identity = options.identity ?? `${process.env['POD_NAME'] ?? hostname()}_${randomBytes(4).toString('hex')}`;
  const client = KubeClient.create({ kubeconfig: options.kubeconfig, userAgent: `sterlet-controller/${identity}` });
  const metrics = new ControllerMetrics();
  // One queue per kind of work. VirtualIPs (what agents program) never wait
  // behind bookkeeping; finalizers wait while VIP status is pending (an initial
  // sync publishes every VIP first); Backend and pool status wait for both.
  const queues = Object.fromEntries(WORK_KINDS.map((k) => [k, new WorkQueue({ onDepth: () => depth() })])) as Record<WorkKind, WorkQueue>;
  const depth = (): void => { metrics.queueDepth.set(WORK_KINDS.reduce((n, k) => n + queues[k].depth, 0)); };
  const enqueue = (kind: WorkKind, key: string): void => queues[kind].add(key);
  const cache = new ControllerCache(client, { log, enqueue, services: options.services?.enabled ?? true });
  const events = new EventRecorder(client, identity, log);
  const serviceSettings = {
    loadBalancerClass: options.services?.loadBalancerClass ?? DEFAULT_SERVICE_SETTINGS.loadBalancerClass,
    defaultClass: options.services?.defaultClass ?? DEFAULT_SERVICE_SETTINGS.defaultClass,
    nodeSelector: options.services?.nodeSelector,
  };
  const services = new ServiceReconciler({ client, cache, events, log, settings: serviceSettings, fieldManager: SERVICE_FIELD_MANAGER, enqueue });
  const reconciler = new Reconciler({
    client, cache, metrics, log, events,
    enqueue,
    heartbeatTimeoutMs: (options.heartbeatTimeoutSeconds ?? 90) * 1000,
    resolveRef: refResolver(cache, serviceSettings),
    services,
  });
  const elect = options.leaderElect ?? true;
  let server: MetricsServer | undefined;
  const addr = options.metricsAddr ?? DEFAULTS.metricsAddr;
  const ready = (): boolean => cache.informers.every((i) => i.synced);
  if (addr !== '') {
    server = await serveMetrics(addr, metrics, ready);
    log.info({ address: server.address }, 'metrics and health endpoints listening');
  }
  log.info({ identity, leaderElect: elect, server: client.server.origin }, 'controller starting');
  const informerRuns = cache.informers.map((i) => i.run(signal));
  try {
    const lead = async (leadership: AbortSignal): Promise<void> => {
      metrics.leader.set(1);
      try {
        await Promise.all(cache.informers.map((i) => i.waitForSync(leadership)));
        log.info({ vips: cache.vips.list().length, backends: cache.backends.list().length }, 'caches synced; reconciling');
        services.rebuild();
        cache.enqueueAllServices();
        cache.enqueueAllVips();
        cache.enqueueAllBackends();
        cache.enqueueAllPools();
        cache.enqueueAllPeers();
        reconciler.livenessChanged();
        // Node heartbeats expire with time, not with events: re-check VIPs when the live set changes.
        const liveness = setInterval(() => {
          if (!reconciler.livenessChanged()) return;
          cache.enqueueAllVips();
          cache.enqueueAllPeers(); // a silent node's session no longer counts as established
          cache.enqueueDrainingBackends(); // a node that stops reporting no longer holds flows
        }, 2_000);
        // Level-based safety net against anything an informer could have missed.
        const resync = setInterval(() => { cache.enqueueAllServices(); cache.enqueueAllVips(); }, (options.resyncSeconds ?? 600) * 1000);
        liveness.unref();
        resync.unref();
        try {
          const vipsPending = (): boolean => queues.VirtualIP.depth > 0;
          await Promise.all([
            runWorkers('VirtualIP', queues.VirtualIP, reconciler, metrics, log, workers, leadership),
            // Users wait on a Service's address as on a VIP: same priority.
            runWorkers('Service', queues.Service, reconciler, metrics, log, workers, leadership),
            runWorkers('Finalizer', queues.Finalizer, reconciler, metrics, log, workers, leadership, vipsPending),
            runWorkers('Backend', queues.Backend, reconciler, metrics, log, 1, leadership, vipsPending, BACKEND_STATUS_INTERVAL_MS),
            runWorkers('VirtualIPPool', queues.VirtualIPPool, reconciler, metrics, log, 1, leadership, vipsPending, BACKEND_STATUS_INTERVAL_MS),
            runWorkers('BGPPeer', queues.BGPPeer, reconciler, metrics, log, 1, leadership, vipsPending, BACKEND_STATUS_INTERVAL_MS),
          ]);
        } finally {
          clearInterval(liveness);
          clearInterval(resync);
        }
      } catch (err) {
        if (!leadership.aborted) throw err;
      } finally {
        metrics.leader.set(0);
      }
    };
    if (elect) {
      const elector = new LeaderElector(client, {
        namespace: options.leaseNamespace ?? DEFAULTS.leaseNamespace,
        name: options.leaseName ?? DEFAULTS.leaseName,
        identity,
        log,
        ...(options.leaseDurationSeconds === undefined ? {} : { leaseDurationSeconds: options.leaseDurationSeconds }),
      });
      await elector.run(signal, lead);
    } else {
      await lead(signal);
    }
  } finally {
    for (const k of WORK_KINDS) queues[k].shutdown();
    await Promise.allSettled(informerRuns);
    await server?.close();
    log.info({ identity }, 'controller stopped');
  }
}

/** Backend and pool status are bookkeeping: at most ~100 writes/s each, so they never crowd out VIP writes. */
const BACKEND_STATUS_INTERVAL_MS = 10;

/** Worker loop: `workers` concurrent reconciles of one kind until `stop` aborts; failures back off per key. */
async function runWorkers(kind: WorkKind, queue: WorkQueue, reconciler: Reconciler, metrics: ControllerMetrics, log: Logger, workers: number, stop: AbortSignal, yieldWhile?: () => boolean, intervalMs = 0): Promise<void> {
  const worker = async (): Promise<void> => {
    while (!stop.aborted) {
      // Low-priority queues wait while the VIP queue has work (agents wait on VIPs, nobody on Backend status).
      while (yieldWhile?.() === true && !stop.aborted) await sleep(20, stop);
      if (intervalMs > 0) await sleep(intervalMs, stop);
      const key = await queue.get(stop);
      if (key === undefined) return;
      const end = metrics.reconcileSeconds.startTimer({ kind });
      try {
        // A 404 means the object went away mid-reconcile: its delete event is (or was) queued.
        const result = await reconciler.reconcile(kind, key)
          .catch((err: unknown): ReconcileResult => { if (isNotFound(err)) return {}; throw err; });
        queue.forget(key);
        if (result.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
        metrics.reconciles.inc({ kind, result: result.requeueAfterMs === undefined ? 'success' : 'requeue' });
      } catch (err) {
        const conflict = isConflict(err);
        if (conflict) metrics.apiConflicts.inc();
        const delay = queue.addRateLimited(key);
        metrics.reconciles.inc({ kind, result: 'error' });
        (conflict ? log.debug.bind(log) : log.warn.bind(log))({ kind, key, err, retryMs: delay }, 'reconcile failed; retrying');
      } finally {
        end();
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
}

function processSignal(log: Logger): AbortSignal {
  const controller = new AbortController();
  const stop = (sig: string): void => {
    log.info({ signal: sig }, 'shutting down');
    controller.abort(new Error(sig));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  return controller.signal;
}
