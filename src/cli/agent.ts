// `sterlet agent`: program this node's XDP balancer from desired state
// (manifests on disk, or the cluster) and keep it programmed. SIGTERM stops
// the agent and leaves the dataplane attached: traffic does not notice.
// This file only maps flags to options; runAgent (src/agent/main.ts) does the work.

import type { AgentSourceOptions } from '../agent/main.ts';
import { AGENT_SIZES } from '../agent/dataplane/layout.ts';
import type { AnnounceOptions } from '../agent/announce/node.ts';
import { DEFAULT_BPFFS } from '../agent/dataplane/pin-layout.ts';
import { NAMES_DIR } from '../agent/dataplane/names-file.ts';
import { UsageError, parseFlags, type FlagSpec } from './args.ts';
import { BPF_OBJECT_FLAG, LOG_LEVEL_FLAG, XDP_MODE_FLAG, hostPort, logger, outerSource, positive, xdpMode } from './common.ts';

export const AGENT_FLAGS: readonly FlagSpec[] = [
  { name: 'interface', type: 'string', short: 'i', help: 'interface the balancer attaches to', required: true },
  { name: 'manifests', type: 'string', short: 'm', help: 'YAML file or directory of VirtualIP/Backend manifests (standalone mode)' },
  { name: 'kubeconfig', type: 'string', help: 'kubeconfig of the cluster (in a pod: in-cluster config when absent)' },
  { name: 'node-name', type: 'string', help: 'this node\'s LoadBalancerNode name (cluster mode)' },
  { name: 'bpffs', type: 'string', short: 'b', help: 'bpffs directory for the pins', default: DEFAULT_BPFFS },
  XDP_MODE_FLAG,
  { name: 'xdp-chain', type: 'boolean', help: 'run as the last stage of a chain of XDP programs: a filter already on the interface keeps running first (see docs/operations.md)', default: false },
  { name: 'forwarding-cpus', type: 'string', help: 'CPUs that get a connection table, e.g. "0-3,6" (default: the CPUs the interface\'s receive-queue interrupts go to; all online for veth)' },
  { name: 'sysfs-root', type: 'string', help: 'sysfs to read CPU/NUMA topology and the interface\'s interrupts from', default: '/sys' },
  { name: 'procfs-root', type: 'string', help: 'procfs to read interrupt affinity from', default: '/proc' },
  { name: 'gateway-mac', type: 'string', help: 'next-hop MAC for forwarded packets (default: discovered from the default route)' },
  { name: 'ring-size', type: 'number', help: 'Maglev ring slots per VIP (prime)', default: AGENT_SIZES.ringSize },
  { name: 'max-vips', type: 'number', help: 'VIPs the maps hold', default: AGENT_SIZES.maxVips },
  { name: 'max-reals', type: 'number', help: 'distinct backend addresses the maps hold', default: AGENT_SIZES.maxReals },
  { name: 'lru-size', type: 'number', help: 'connection-table entries per forwarding CPU', default: AGENT_SIZES.lruSize },
  { name: 'fallback-lru-size', type: 'number', help: 'entries of the table for CPUs without their own', default: AGENT_SIZES.fallbackLruSize },
  { name: 'mtu', type: 'number', help: 'largest packet toward backends incl. encapsulation; bigger ones get ICMP too-big (default: the interface MTU; 0 = off)' },
  { name: 'gue-port', type: 'number', help: 'GUE destination port (backends decap it)', default: 6080 },
  { name: 'outer-source-v4', type: 'string', help: 'outer IPv4 source prefix; host bits come from the flow hash (backend RSS)', default: '172.16.0.0/16' },
  { name: 'outer-source-v6', type: 'string', help: 'outer IPv6 source prefix (>= /96)', default: 'fd00:5354::/96' },
  { name: 'udp-timeout', type: 'number', help: 'seconds an idle UDP flow stays pinned to its backend', default: 30 },
  { name: 'flow-count-interval', type: 'number', help: 'seconds between counts of flows left per backend (metric, node status; 0 = off)', default: 30 },
  { name: 'flow-recent', type: 'number', help: 'a flow seen within this many seconds counts as recent (draining: Drained when no node holds one)', default: 60 },
  { name: 'resync-interval', type: 'number', help: 'seconds between full re-reads of the maps (drift repair)', default: 60 },
  { name: 'metrics-addr', type: 'string', help: 'HOST:PORT of /metrics, /healthz, /readyz ("" = off)', default: '0.0.0.0:9464' },
  { name: 'bgp-speaker', type: 'string', help: 'HOST:PORT of the gobgpd gRPC API (--api-hosts) to announce VIPs through ("" = no announcement)', default: '' },
  { name: 'bgp-router-id', type: 'string', help: 'BGP router id (default: the first IPv4 address of --interface)' },
  { name: 'bgp-asn', type: 'number', help: 'ASN of the speaker (default: localASN of the first BGPPeer)' },
  { name: 'bgp-listen-port', type: 'number', help: 'TCP port gobgpd accepts sessions on (-1 = connect out only)', default: 179 },
  { name: 'bgp-proto-dir', type: 'string', help: 'directory with the pinned GoBGP gobgp.proto and attribute.proto (default: the scripts/gobgp.sh cache)' },
  { name: 'drain-seconds', type: 'number', help: 'with --bgp-speaker, on SIGTERM: withdraw the VIP routes, keep forwarding this long, then exit', default: 5 },
  { name: 'names-file', type: 'string', help: `VIP/Backend names for sterlet stats ("" = off; default ${NAMES_DIR}/<bpffs>.names.json)` },
  { name: 'health-checks', type: 'boolean', help: 'probe backends through the tunnel and take unhealthy ones out of the ring (--health-checks=false: off)', default: true },
  { name: 'health-file', type: 'string', help: 'where the health view for `sterlet stats` is written (default: /run/sterlet/<bpffs path>.health.json)' },
  { name: 'healthcheck-object', type: 'string', help: 'health-check tc program build (default build/bpf/healthcheck.bpf.o)' },
  BPF_OBJECT_FLAG,
  LOG_LEVEL_FLAG,
];

/** Checks an explicit `--mtu` (0 = too-big generation off); undefined = the interface MTU. */
export function mtuFlag(flag: number | undefined): number | undefined {
  if (flag === undefined) return undefined;
  if (!Number.isInteger(flag) || flag < 0 || flag > 65535) {
    throw new UsageError(`--mtu ${String(flag)} is not an MTU`, 'pass a size in bytes (e.g. 1500), or 0 to send no ICMP too-big');
  }
  return flag;
}

function seconds(n: number | undefined, flag: string): number {
  if (n === undefined || !Number.isFinite(n) || n < 0) throw new UsageError(`${flag} ${String(n)} is not a number of seconds`, `pass seconds >= 0 to ${flag}`);
  return n;
}

export async function agentCommand(argv: readonly string[]): Promise<number> {
  const f = parseFlags('agent', argv, AGENT_FLAGS);
  const metricsAddr = f.str('metrics-addr') ?? '';
  const source = sourceOptions(f.str('manifests'), f.str('kubeconfig'), f.str('node-name'));
  // In a cluster many agents log into one place: every line names its node.
  const base = logger('agent', f.str('log-level'));
  const log = source.kind === 'kubernetes' ? base.child({ node: source.nodeName }) : base;
  const controller = new AbortController();
  const stop = (signal: string): void => {
    log.info({ signal }, 'stopping; the dataplane stays attached and programmed');
    controller.abort();
  };
  const options = {
    interface: f.str('interface') ?? '',
    source,
    bpffs: f.str('bpffs') ?? DEFAULT_BPFFS,
    xdpMode: xdpMode(f.str('xdp-mode')),
    xdpChain: f.bool('xdp-chain'),
    objectPath: f.str('bpf-object'),
    sizes: {
      maxVips: positive(f.num('max-vips'), '--max-vips'),
      // Real index 0 means "no backend": the map has one more slot than usable reals.
      maxReals: positive(f.num('max-reals'), '--max-reals') + 1,
      ringSize: positive(f.num('ring-size'), '--ring-size'),
      lruSize: positive(f.num('lru-size'), '--lru-size'),
      fallbackLruSize: positive(f.num('fallback-lru-size'), '--fallback-lru-size'),
    },
    forwardingCpus: f.str('forwarding-cpus'),
    sysfsRoot: f.str('sysfs-root') ?? '/sys',
    procfsRoot: f.str('procfs-root') ?? '/proc',
    gatewayMac: f.str('gateway-mac'),
    mtu: mtuFlag(f.has('mtu') ? f.num('mtu') : undefined),
    gueDestinationPort: f.num('gue-port') ?? 6080,
    sourcePrefixV4: outerSource(f.str('outer-source-v4') ?? '', 4, '--outer-source-v4'),
    sourcePrefixV6: outerSource(f.str('outer-source-v6') ?? '', 6, '--outer-source-v6'),
    udpTimeoutSeconds: f.num('udp-timeout') ?? 30,
    resyncMs: (f.num('resync-interval') ?? 60) * 1000,
    flowCountMs: seconds(f.num('flow-count-interval'), '--flow-count-interval') * 1000,
    flowRecentSeconds: seconds(f.num('flow-recent'), '--flow-recent'),
    metrics: metricsAddr === '' ? undefined : hostPort(metricsAddr, '--metrics-addr'),
    announce: announceOptions(f),
    namesFile: f.str('names-file'),
    healthChecks: f.bool('health-checks') ? { healthFile: f.str('health-file'), objectPath: f.str('healthcheck-object') } : undefined,
    log,
  };

  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  // The manifests are read and compiled on a worker thread while this one
  // loads the agent's modules and the dataplane: on a cold start both take seconds.
  const prefetched = source.kind === 'manifests' ? { ...source, prefetched: (await import('../agent/sources/off-thread.ts')).prefetchManifests(source.path) } : source;
  const { runAgent } = await import('../agent/main.ts');
  await runAgent({ ...options, source: prefetched }, controller.signal);
  return 0;
}

function sourceOptions(manifests: string | undefined, kubeconfig: string | undefined, nodeName: string | undefined): AgentSourceOptions {
  const inCluster = kubeconfig !== undefined || process.env['KUBERNETES_SERVICE_HOST'] !== undefined;
  if (manifests === undefined && !inCluster) {
    throw new UsageError('sterlet agent needs a source of desired state', 'pass --manifests PATH, or --kubeconfig PATH --node-name NAME (in a pod the in-cluster config is used)');
  }
  if (manifests !== undefined && kubeconfig !== undefined) throw new UsageError('--manifests and --kubeconfig exclude each other', 'pick one source');
  if (manifests !== undefined) return { kind: 'manifests', path: manifests };
  const node = nodeName ?? process.env['NODE_NAME'];
  if (node === undefined) throw new UsageError('cluster mode needs --node-name', 'pass --node-name NAME (the chart sets it from spec.nodeName)');
  return { kind: 'kubernetes', nodeName: node, kubeconfig };
}

function announceOptions(f: ReturnType<typeof parseFlags>): AnnounceOptions | undefined {
  const speaker = f.str('bgp-speaker') ?? '';
  if (speaker === '') return undefined;
  hostPort(speaker, '--bgp-speaker');
  const listenPort = f.num('bgp-listen-port') ?? 179;
  if (!Number.isInteger(listenPort) || listenPort < -1 || listenPort > 65535) {
    throw new UsageError(`--bgp-listen-port ${String(listenPort)} is not a port`, 'pass 1-65535, or -1 to only connect out');
  }
  const drain = f.num('drain-seconds') ?? 5;
  if (!(drain >= 0)) throw new UsageError(`--drain-seconds ${String(drain)} is negative`, 'pass 0 or more seconds');
  return {
    speaker,
    protoDir: f.str('bgp-proto-dir'),
    routerId: f.str('bgp-router-id'),
    asn: f.has('bgp-asn') ? f.num('bgp-asn') : undefined,
    listenPort,
    drainMs: drain * 1000,
  };
}
