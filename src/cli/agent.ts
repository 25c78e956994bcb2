// `sterlet agent`: program this node's XDP balancer from desired state
// (manifests on disk, or the cluster) and keep it programmed. SIGTERM stops
// the agent and leaves the dataplane attached: traffic does not notice.

import { trimHeap } from '../libbpf/libc.ts';
import { buildRing, ringFingerprint } from '../agent/plan/maglev.ts';
import { discoverEnvironment } from '../agent/host/discovery.ts';
import { encodeSettings, u32, type Settings } from '../agent/dataplane/codec.ts';
import { LAYOUT_VERSION, secondsToAtime } from '../agent/dataplane/layout.ts';
import { gatewayRefresher } from '../agent/host/gateway.ts';
import { startBalancer, type RunningBalancer } from '../agent/dataplane/startup.ts';
import { MapsIO } from '../agent/dataplane/maps-io.ts';
import { createAgentMetrics, startMetricsServer } from '../agent/metrics.ts';
import { readLive } from '../agent/dataplane/read-live.ts';
import { DEFAULT_BPFFS } from '../agent/dataplane/pin-layout.ts';
import { AgentRuntime } from '../agent/runtime.ts';
import { fileSource } from '../agent/sources/file.ts';
import type { DesiredStateSource } from '../agent/sources/types.ts';
import { readStats, toDataplaneCounters } from '../agent/dataplane/stats.ts';
import { forwardingCpus, readTopology } from '../agent/host/topology.ts';
import { errorText, isSterletError } from '../common/errors.ts';
import { UsageError, parseFlags, type FlagSpec } from './args.ts';
import { BPF_OBJECT_FLAG, LOG_LEVEL_FLAG, XDP_MODE_FLAG, hostPort, logger, outerSource, positive, xdpMode } from './common.ts';

export const AGENT_FLAGS: readonly FlagSpec[] = [
  { name: 'interface', type: 'string', help: 'interface the balancer attaches to', required: true },
  { name: 'manifests', type: 'string', help: 'YAML file or directory of VirtualIP/Backend manifests (standalone mode)' },
  { name: 'kubeconfig', type: 'string', help: 'kubeconfig of the cluster (in a pod: in-cluster config when absent)' },
  { name: 'node-name', type: 'string', help: 'this node\'s LoadBalancerNode name (cluster mode)' },
  { name: 'bpffs', type: 'string', help: 'bpffs directory for the pins', default: DEFAULT_BPFFS },
  XDP_MODE_FLAG,
  { name: 'forwarding-cpus', type: 'string', help: 'CPUs that get a connection table, e.g. "0-3,6" (default: all online)' },
  { name: 'sysfs-root', type: 'string', help: 'sysfs to read CPU/NUMA topology from', default: '/sys' },
  { name: 'gateway-mac', type: 'string', help: 'next-hop MAC for forwarded packets (default: discovered from the default route)' },
  { name: 'ring-size', type: 'number', help: 'Maglev ring slots per VIP (prime)', default: 65537 },
  { name: 'max-vips', type: 'number', help: 'VIPs the maps hold', default: 512 },
  { name: 'max-reals', type: 'number', help: 'distinct backend addresses the maps hold', default: 4096 },
  { name: 'lru-size', type: 'number', help: 'connection-table entries per forwarding CPU', default: 1_000_000 },
  { name: 'fallback-lru-size', type: 'number', help: 'entries of the table for CPUs without their own', default: 65536 },
  { name: 'mtu', type: 'number', help: 'largest packet toward backends incl. encapsulation; bigger ones get ICMP too-big (default: the interface MTU; 0 = off)' },
  { name: 'gue-port', type: 'number', help: 'GUE destination port (backends decap it)', default: 6080 },
  { name: 'outer-source-v4', type: 'string', help: 'outer IPv4 source prefix; host bits come from the flow hash (backend RSS)', default: '172.16.0.0/16' },
  { name: 'outer-source-v6', type: 'string', help: 'outer IPv6 source prefix (>= /96)', default: 'fd00:5354::/96' },
  { name: 'udp-timeout', type: 'number', help: 'seconds an idle UDP flow stays pinned to its backend', default: 30 },
  { name: 'resync-interval', type: 'number', help: 'seconds between full re-reads of the maps (drift repair)', default: 60 },
  { name: 'metrics-addr', type: 'string', help: 'HOST:PORT of /metrics, /healthz, /readyz ("" = off)', default: '0.0.0.0:9464' },
  BPF_OBJECT_FLAG,
  LOG_LEVEL_FLAG,
];

/** The `--mtu` value in force: the flag (0 = too-big generation off), else the interface MTU. */
export function mtuBudget(flag: number | undefined, interfaceMtu: number): number {
  const mtu = flag ?? interfaceMtu;
  if (!Number.isInteger(mtu) || mtu < 0 || mtu > 65535) {
    throw new UsageError(`--mtu ${String(flag)} is not an MTU`, 'pass a size in bytes (e.g. 1500), or 0 to send no ICMP too-big');
  }
  return mtu;
}

export async function agentCommand(argv: readonly string[]): Promise<number> {
  const f = parseFlags('agent', argv, AGENT_FLAGS);
  const manifests = f.str('manifests');
  const inCluster = f.has('kubeconfig') || process.env['KUBERNETES_SERVICE_HOST'] !== undefined;
  if (manifests === undefined && !inCluster) {
    throw new UsageError('sterlet agent needs a source of desired state', 'pass --manifests PATH, or --kubeconfig PATH --node-name NAME (in a pod the in-cluster config is used)');
  }
  if (manifests !== undefined && f.has('kubeconfig')) throw new UsageError('--manifests and --kubeconfig exclude each other', 'pick one source');
  const iface = f.str('interface') ?? '';
  const mode = xdpMode(f.str('xdp-mode'));
  const sizes = {
    maxVips: positive(f.num('max-vips'), '--max-vips'),
    // Real index 0 means "no backend": the map has one more slot than usable reals.
    maxReals: positive(f.num('max-reals'), '--max-reals') + 1,
    ringSize: positive(f.num('ring-size'), '--ring-size'),
    lruSize: positive(f.num('lru-size'), '--lru-size'),
    fallbackLruSize: positive(f.num('fallback-lru-size'), '--fallback-lru-size'),
  };
  const metricsAddr = f.str('metrics-addr') ?? '';
  const listen = metricsAddr === '' ? undefined : hostPort(metricsAddr, '--metrics-addr');
  const log = logger('agent', f.str('log-level'));

  const env = await discoverEnvironment({ interface: iface, ...(f.has('gateway-mac') ? { gatewayMac: f.str('gateway-mac') ?? '' } : {}) });
  // The too-big budget: what the interface can send, unless the operator says otherwise.
  const mtu = mtuBudget(f.has('mtu') ? f.num('mtu') : undefined, env.link.mtu);
  const topology = await readTopology({ sysfsRoot: f.str('sysfs-root') ?? '/sys' });
  const cpus = forwardingCpus(topology, f.str('forwarding-cpus'));
  if (topology.cpusWithoutNode.length > 0) log.warn({ cpus: topology.cpusWithoutNode }, 'CPUs without a NUMA node in sysfs: their tables go to node 0');
  // The source first: a bad kubeconfig or path fails before anything is attached.
  let running: RunningBalancer | undefined;
  let source: DesiredStateSource;
  if (manifests !== undefined) {
    source = fileSource(manifests);
  } else {
    const nodeName = f.str('node-name') ?? process.env['NODE_NAME'];
    if (nodeName === undefined) throw new UsageError('cluster mode needs --node-name', 'pass --node-name NAME (the chart sets it from spec.nodeName)');
    const { kubernetesSource } = await import('../agent/sources/kubernetes.ts');
    source = kubernetesSource({
      nodeName,
      kubeconfig: f.str('kubeconfig'),
      log,
      facts: () => ({
        interface: iface,
        xdpMode: (running?.xdpMode ?? mode) === 'native' ? 'Native' : 'Generic',
        ...(running === undefined ? {} : { programId: running.programId }),
        numaNodes: [...new Set(cpus.map((c) => c.node))],
        forwardingCpus: cpus.map((c) => c.cpu),
      }),
    });
  }

  let settings: Settings = {
    gatewayMac: env.gateway.mac,
    mtu,
    gueDestinationPort: f.num('gue-port') ?? 6080,
    sourcePrefixV4: outerSource(f.str('outer-source-v4') ?? '', 4, '--outer-source-v4'),
    sourcePrefixV6: outerSource(f.str('outer-source-v6') ?? '', 6, '--outer-source-v6'),
    udpTimeout: secondsToAtime(f.num('udp-timeout') ?? 30),
  };
  running = startBalancer({
    interfaceName: iface,
    ifindex: env.link.ifindex,
    bpffs: f.str('bpffs') ?? DEFAULT_BPFFS,
    xdpMode: mode,
    objectPath: f.str('bpf-object'),
    sizes,
    forwardingCpus: cpus.map((c) => ({ cpu: c.cpu, numaNode: c.node })),
    settings,
    log,
  });

  const dataplane = running;
  // A discovered gateway MAC is re-resolved before every periodic resync.
  const gateway = gatewayRefresher({
    interfaceName: iface,
    initial: env.gateway,
    log,
    write: (mac) => {
      settings = { ...settings, gatewayMac: mac };
      dataplane.maps.settings.update(u32(0), encodeSettings({ ...settings, layoutVersion: LAYOUT_VERSION }));
    },
  });
  const controller = new AbortController();
  const stop = (signal: string): void => {
    log.info({ signal }, 'stopping; the dataplane stays attached and programmed');
    controller.abort();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));

  const runtime: AgentRuntime = new AgentRuntime({
    source,
    io: new MapsIO(dataplane.maps, dataplane.limits),
    limits: dataplane.limits,
    buildRing,
    fingerprint: ringFingerprint,
    log,
    resyncMs: (f.num('resync-interval') ?? 60) * 1000,
    beforeResync: async () => void (await gateway.refresh()),
    onDesired: (generation) => metrics.desiredGeneration.set(generation),
    onApply: (r) => {
      metrics.applyDuration.observe({ result: r.ok ? 'success' : 'error' }, r.durationMs / 1000);
      if (r.ok) metrics.appliedGeneration.set(r.generation);
      if (!r.ok) metrics.applyErrors.inc({ code: isSterletError(r.error) ? r.error.code : 'UNKNOWN' });
    },
    afterLargeApply: trimHeap,
    onRejected: (problems) => metrics.applyErrors.inc({ code: problems[0]?.code ?? 'DESIRED_STATE_INVALID' }),
  });
  const metrics = createAgentMetrics({
    readCounters: () =>
      toDataplaneCounters(readStats(dataplane.maps, runtime.live ?? readLive(dataplane.maps, dataplane.limits), { maxVips: dataplane.sizes.maxVips, names: runtime.names }), runtime.fingerprints),
    onReadError: (err) => log.warn({ err: errorText(err) }, 'reading dataplane counters failed'),
  });
  const server =
    listen === undefined
      ? undefined
      : await startMetricsServer({ port: listen.port, host: listen.host, registry: metrics.registry, ready: () => runtime.ready, signal: controller.signal });
  log.info(
    { interface: iface, ifindex: env.link.ifindex, gateway: env.gateway, mtu, cpus: cpus.map((c) => `${c.cpu}@node${c.node}`), source: source.name, metrics: server?.url },
    'agent started',
  );
  try {
    await runtime.run(controller.signal);
  } finally {
    await server?.close();
    dataplane.close();
  }
  log.info({}, 'agent stopped');
  return 0;
}
