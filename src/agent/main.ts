// The agent's composition root: discover the host, start (or adopt) the
// balancer, wire the desired-state source, the runtime and the metrics
// endpoints together, and run until the signal aborts. Aborting stops the
// agent and leaves the dataplane attached and programmed.

import { trimHeap } from '../libbpf/libc.ts';
import { isSterletError } from '../common/errors.ts';
import { encodeSettings, u32, type Settings } from './dataplane/codec.ts';
import { LAYOUT_VERSION, secondsToAtime } from './dataplane/layout.ts';
import type { BalancerSizes } from './dataplane/loader.ts';
import { MapsIO, readLive } from './dataplane/maps-io.ts';
import { startBalancer, type RunningBalancer } from './dataplane/startup.ts';
import { readStats, toDataplaneCounters } from './dataplane/stats.ts';
import { namesFilePath, statsNames, writeNamesFile } from './dataplane/names-file.ts';
import type { DesiredVip } from './plan/model.ts';
import { discoverEnvironment } from './host/discovery.ts';
import { gatewayRefresher } from './host/gateway.ts';
import { cpusFromQueueIrqs } from './host/irq.ts';
import { hostTickNs } from './host/kernel-hz.ts';
import { formatCpuList, forwardingCpus, readTopology, type Topology } from './host/topology.ts';
import { startEndpoints } from '../common/http-endpoints.ts';
import { openConnectionTables } from './dataplane/flows.ts';
import { watchFlows } from './dataplane/flow-watch.ts';
import { createAgentMetrics, type AgentMetrics } from './metrics.ts';
import { buildRing, ringFingerprint } from './plan/maglev.ts';
import { ringPool } from './plan/ring-pool.ts';
import type { Log } from '../common/log.ts';
import { AgentRuntime } from './runtime.ts';
import { startHealthChecks, type HealthChecks } from './health/checks.ts';
import { healthFilePath } from './health/snapshot-file.ts';
import { probeSource } from './health/tunnel.ts';
import { fileSource } from './sources/file.ts';
import type { PrefetchedLoad } from './sources/off-thread.ts';
import type { NodeFacts } from './sources/kubernetes.ts';
import type { DesiredStateSource } from './sources/types.ts';
import type { XdpMode } from '../libbpf/xdp.ts';
import type { Announcer } from './announce/announcer.ts';
import type { AnnounceOptions } from './announce/node.ts';

/** Where desired state comes from: manifests on disk, or the cluster. */
export type AgentSourceOptions =
  | { readonly kind: 'manifests'; readonly path: string; readonly prefetched?: PrefetchedLoad | undefined }
  | { readonly kind: 'kubernetes'; readonly nodeName: string; readonly kubeconfig?: string | undefined };

export interface AgentOptions {
  readonly interface: string;
  readonly source: AgentSourceOptions;
  readonly bpffs: string;
  readonly xdpMode: XdpMode;
  /** Run as the last stage of an XDP chain behind a filter (dataplane/chain.ts). */
  readonly xdpChain?: boolean | undefined;
  /** Program build to run (default build/bpf/balancer.bpf.o). */
  readonly objectPath?: string | undefined;
  readonly sizes: BalancerSizes;
  /** A CPU list such as "0-3,6"; default: the CPUs of the interface's receive-queue IRQs (every online CPU for a veth). */
  readonly forwardingCpus?: string | undefined;
  readonly sysfsRoot: string;
  /** Where /proc/irq is read from; default /proc. */
  readonly procfsRoot?: string | undefined;
  /** Next-hop MAC; default: discovered from the default route and re-resolved before each resync. */
  readonly gatewayMac?: string | undefined;
  /** Too-big budget in bytes (0 = off); default: the interface MTU. */
  readonly mtu?: number | undefined;
  readonly gueDestinationPort: number;
  readonly sourcePrefixV4: Settings['sourcePrefixV4'];
  readonly sourcePrefixV6: Settings['sourcePrefixV6'];
  readonly udpTimeoutSeconds: number;
  readonly resyncMs: number;
  /** Interval of the flows-per-backend count (metric, node status); 0 = off. */
  readonly flowCountMs?: number | undefined;
  /** Idle threshold of a recent flow (Drained). Default 60. */
  readonly flowRecentSeconds?: number | undefined;
  /** /metrics, /healthz and /readyz; absent = no endpoint. */
  readonly metrics?: { readonly host: string; readonly port: number } | undefined;
  /** Announce VIPs through a BGP speaker (peers from BGPPeer manifests or objects). */
  readonly announce?: AnnounceOptions | undefined;
  /** Where `sterlet stats` finds the VIP and Backend names (default: namesFilePath(bpffs)); "" = not written. */
  readonly namesFile?: string | undefined;
  /** Health checks through the tunnel (src/agent/health); absent = off. */
  readonly healthChecks?: HealthCheckOptions | undefined;
  readonly log: Log;
}

/** `--mtu` when given, else the interface MTU capped at 65535: lo reports 65536, and no IP packet is bigger. */
export function mtuInForce(flag: number | undefined, interfaceMtu: number): number {
  return flag ?? Math.min(interfaceMtu, 65535);
}

export interface HealthCheckOptions {
  /** Where `sterlet stats` reads the health view; default healthFilePath(bpffs). */
  readonly healthFile?: string | undefined;
  /** tc program build (default build/bpf/healthcheck.bpf.o). */
  readonly objectPath?: string | undefined;
}

export async function runAgent(options: AgentOptions, signal: AbortSignal): Promise<void> {
  const { log } = options;
  const env = await discoverEnvironment({
    interface: options.interface,
    ...(options.gatewayMac === undefined ? {} : { gatewayMac: options.gatewayMac }),
  });
  const mtu = mtuInForce(options.mtu, env.link.mtu);
  const topology = await readTopology({ sysfsRoot: options.sysfsRoot });
  const cpus = forwardingCpus(topology, await forwardingCpuList(options, topology));
  if (topology.cpusWithoutNode.length > 0) log.warn({ cpus: topology.cpusWithoutNode }, 'CPUs without a NUMA node in sysfs: their tables go to node 0');
  if (hostTickNs() === 0) log.warn({}, 'CONFIG_HZ unknown (no /proc/config.gz or /boot/config-RELEASE): the connection-table clock uses a helper call per packet');

  // The source first: a bad kubeconfig or path fails before anything is attached.
  let running: RunningBalancer | undefined;
  const facts = (): NodeFacts => ({
    interface: options.interface,
    xdpMode: (running?.xdpMode ?? options.xdpMode) === 'native' ? 'Native' : 'Generic',
    ...(running === undefined ? {} : { programId: running.programId }),
    numaNodes: [...new Set(cpus.map((c) => c.node))],
    forwardingCpus: cpus.map((c) => c.cpu),
  });
  const source = await openSource(options.source, log, facts);

  let settings: Settings = {
    gatewayMac: env.gateway.mac,
    mtu,
    gueDestinationPort: options.gueDestinationPort,
    sourcePrefixV4: options.sourcePrefixV4,
    sourcePrefixV6: options.sourcePrefixV6,
    udpTimeout: secondsToAtime(options.udpTimeoutSeconds),
  };
  const dataplane = startBalancer({
    interfaceName: options.interface,
    ifindex: env.link.ifindex,
    bpffs: options.bpffs,
    xdpMode: options.xdpMode,
    objectPath: options.objectPath,
    sizes: options.sizes,
    forwardingCpus: cpus.map((c) => ({ cpu: c.cpu, numaNode: c.node })),
    settings,
    chain: options.xdpChain,
    log,
  });
  running = dataplane;

  // A discovered gateway MAC is re-resolved before every periodic resync.
  const gateway = gatewayRefresher({
    interfaceName: options.interface,
    initial: env.gateway,
    log,
    write: (mac) => {
      settings = { ...settings, gatewayMac: mac };
      dataplane.maps.settings.update(u32(0), encodeSettings({ ...settings, layoutVersion: LAYOUT_VERSION }));
    },
  });

  const metrics = createAgentMetrics();
  const publishNames = namesPublisher(options.namesFile ?? namesFilePath(options.bpffs), log);
  const health: HealthChecks | undefined =
    options.healthChecks === undefined
      ? undefined
      : startHealthChecks({
          ifindex: env.link.ifindex,
          tunnel: {
            sourceV4: probeSource(settings.sourcePrefixV4),
            sourceV6: probeSource(settings.sourcePrefixV6),
            gueDestinationPort: settings.gueDestinationPort,
          },
          log,
          registry: metrics.registry,
          healthFile: options.healthChecks.healthFile ?? healthFilePath(options.bpffs),
          // Called on a health transition, i.e. after runtime.run() started: the binding is assigned by then.
          reapply: () => runtime.reapply(),
          objectPath: options.healthChecks.objectPath,
          // Standalone decides locally; in a cluster every node must keep the same ring, so the controller decides.
          decide: options.source.kind === 'kubernetes' ? 'fleet' : 'local',
        });
  const rings = ringPool();
  const runtime: AgentRuntime = new AgentRuntime({
    source,
    io: new MapsIO(dataplane.maps, dataplane.limits),
    limits: dataplane.limits,
    buildRing,
    fingerprint: ringFingerprint,
    ringPool: rings,
    log,
    resyncMs: options.resyncMs,
    beforeResync: async () => void (await gateway.refresh()),
    onDesired: (generation) => metrics.desiredGeneration.set(generation),
    onApply: (r) => {
      metrics.applyDuration.observe({ result: r.ok ? 'success' : 'error' }, r.durationMs / 1000);
      if (!r.ok) {
        metrics.applyErrors.inc({ code: isSterletError(r.error) ? r.error.code : 'UNKNOWN' });
        return;
      }
      metrics.appliedGeneration.set(r.generation);
      metrics.ready.set(1);
      metrics.rejected.reset();
      for (const [code, n] of Object.entries(r.rejected ?? {})) metrics.rejected.set({ code }, n);
      publishNames(runtime.programmed);
    },
    afterLargeApply: trimHeap,
    ...(health === undefined ? {} : { overlay: health.overlay }),
    onRejected: (problems) => metrics.applyErrors.inc({ code: problems[0]?.code ?? 'DESIRED_STATE_INVALID' }),
  });
  metrics.collectDataplane(
    () =>
      toDataplaneCounters(
        readStats(dataplane.maps, runtime.live ?? readLive(dataplane.maps, dataplane.limits), { maxVips: dataplane.sizes.maxVips, desired: runtime.programmed }),
        runtime.fingerprints,
      ),
    (err) => log.warn({ err }, 'reading dataplane counters failed'),
  );
  // Aborting stops the agent; when it announces, it first withdraws its routes
  // and keeps forwarding for the drain time, so routers move the flows to
  // other nodes (same Maglev ring, same backends) before it goes.
  const stop = new AbortController();
  const server =
    options.metrics === undefined
      ? undefined
      : await startEndpoints({ ...options.metrics, registry: metrics.registry, ready: () => runtime.ready, signal: stop.signal });
  const announcing = await announcerFor(options, { ifindex: env.link.ifindex, programId: dataplane.interfaceProgramId, runtime });
  const announcer = announcing?.announcer;
  const onAbort = (): void => {
    if (announcer === undefined) return stop.abort();
    const drainMs = options.announce?.drainMs ?? 0;
    log.info({ drainSeconds: drainMs / 1000 }, 'draining: withdrawing VIP routes, still forwarding');
    void announcer.drain().finally(() => setTimeout(() => stop.abort(), drainMs));
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  log.info(
    {
      interface: options.interface,
      ifindex: env.link.ifindex,
      gateway: env.gateway,
      mtu,
      healthChecks: health !== undefined,
      cpus: cpus.map((c) => `${c.cpu}@node${c.node}`),
      source: source.name,
      metrics: server?.url,
      bgpSpeaker: options.announce?.speaker,
    },
    'agent started',
  );
  // Ends with the agent: when it stops, and when the runtime fails.
  const flowsStop = new AbortController();
  const endFlows = (): void => flowsStop.abort();
  stop.signal.addEventListener('abort', endFlows, { once: true });
  const flows = watchFlowsIfOn(options, dataplane, runtime, metrics, source, flowsStop.signal);
  health?.start(signal);
  try {
    await Promise.all([runtime.run(stop.signal), announcing?.run(stop.signal)]);
  } finally {
    flowsStop.abort();
    stop.signal.removeEventListener('abort', endFlows);
    await flows;
    await server?.close();
    health?.close();
    await rings.close();
    dataplane.close();
  }
  log.info({}, 'agent stopped');
}

interface Announcing {
  readonly announcer: Announcer;
  /** Whatever else must run beside it (the BGPPeer informers in cluster mode). */
  run(signal: AbortSignal): Promise<void>;
}

async function announcerFor(
  options: AgentOptions,
  dataplane: { ifindex: number; programId: number; runtime: AgentRuntime },
): Promise<Announcing | undefined> {
  const announce = options.announce;
  if (announce === undefined) return undefined;
  // Loaded only when announcing: the gRPC client is hundreds of modules a cold start need not load.
  const { nodeAnnouncer } = await import('./announce/node.ts');
  const base = { announce, interface: options.interface, log: options.log, ...dataplane };
  if (options.source.kind === 'manifests') {
    const { manifestPeers } = await import('./announce/peers.ts');
    const announcer = nodeAnnouncer({ ...base, peers: manifestPeers(options.source.path) });
    return { announcer, run: (signal) => announcer.run(signal) };
  }
  const { KubeClient } = await import('../kube/client.ts');
  const { clusterPeers } = await import('./announce/cluster-peers.ts');
  const nodeName = options.source.nodeName;
  const peers = clusterPeers({ client: KubeClient.create({ kubeconfig: options.source.kubeconfig, userAgent: `sterlet-agent/${nodeName}` }), nodeName, log: options.log });
  const announcer = nodeAnnouncer({ ...base, peers: () => peers.peers(), onStatus: (status) => void peers.report(status) });
  return { announcer, run: async (signal) => void (await Promise.all([peers.run(signal), announcer.run(signal)])) };
}

/** The periodic flows-per-backend count: metric every count, node status when the counts change. */
function watchFlowsIfOn(
  options: AgentOptions,
  dataplane: RunningBalancer,
  runtime: AgentRuntime,
  metrics: AgentMetrics,
  source: DesiredStateSource,
  signal: AbortSignal,
): Promise<void> {
  const intervalMs = options.flowCountMs ?? 30_000;
  if (intervalMs === 0) return Promise.resolve();
  return watchFlows(
    {
      tables: () => openConnectionTables(dataplane.maps),
      live: () => runtime.live,
      intervalMs,
      recentSeconds: options.flowRecentSeconds ?? 60,
      log: options.log,
      onCount: (r) => {
        metrics.flowCountDuration.set(r.durationMs / 1000);
        metrics.backendFlows.reset();
        for (const b of r.backends) {
          metrics.backendFlows.set({ backend: b.backend, state: 'all' }, b.flows);
          metrics.backendFlows.set({ backend: b.backend, state: 'recent' }, b.recent);
        }
      },
      ...(source.reportFlows === undefined ? {} : { onChange: (flows) => source.reportFlows?.(flows) }),
    },
    signal,
  );
}

/** --forwarding-cpus, else the CPUs the interface's receive queues interrupt; logged with the reason. */
async function forwardingCpuList(options: AgentOptions, topology: Topology): Promise<string> {
  if (options.forwardingCpus !== undefined) {
    options.log.info({ cpus: options.forwardingCpus, source: '--forwarding-cpus' }, 'forwarding CPUs chosen');
    return options.forwardingCpus;
  }
  const choice = await cpusFromQueueIrqs(options.interface, topology.cpus.map((c) => c.cpu), {
    sysfsRoot: options.sysfsRoot,
    procfsRoot: options.procfsRoot ?? '/proc',
  });
  const cpus = formatCpuList(choice.cpus);
  const irqs = choice.irqs.map((q) => `${q.irq}:${q.name}->${formatCpuList(q.cpus)}`);
  options.log.info({ cpus, source: choice.source, reason: choice.reason, irqs }, 'forwarding CPUs chosen');
  return cpus;
}

async function openSource(
  options: AgentSourceOptions,
  log: Log,
  facts: () => NodeFacts,
): Promise<DesiredStateSource> {
  if (options.kind === 'manifests') return fileSource(options.path, { prefetched: options.prefetched });
  // Loaded only in cluster mode: standalone hosts never load the Kubernetes client.
  const { kubernetesSource } = await import('./sources/kubernetes.ts');
  return kubernetesSource({ nodeName: options.nodeName, kubeconfig: options.kubeconfig, log, facts });
}

/** Writes the names file when the names changed; a failure is logged once per change, never fatal. */
function namesPublisher(path: string, log: Log): (desired: readonly DesiredVip[]) => void {
  let last = '';
  return (desired) => {
    if (path === '') return;
    const names = statsNames(desired);
    const text = JSON.stringify(names);
    if (text === last) return;
    last = text;
    try {
      writeNamesFile(path, names);
    } catch (err) {
      log.warn({ err, path }, 'cannot write the names file; sterlet stats shows addresses only');
    }
  };
}
