// `sterlet decap`: attach the backend decap program. Exits once attached
// (pins keep it alive), or with --foreground stays up until SIGTERM (a
// DaemonSet container; default when running in a pod). Either way the program
// stays attached when the process ends.

import { startDecap } from '../agent/dataplane/decap.ts';
import { DEFAULT_DECAP_BPFFS } from '../agent/dataplane/pin-layout.ts';
import { serveDecapUntilStopped } from '../agent/dataplane/decap-metrics.ts';
import { isIp, canonicalIp } from '../api/ip.ts';
import { UsageError, parseFlags, type FlagSpec } from './args.ts';
import { BPF_OBJECT_FLAG, LOG_LEVEL_FLAG, XDP_MODE_FLAG, hostPort, ifindexOf, logger, xdpMode } from './common.ts';

export const DECAP_FLAGS: readonly FlagSpec[] = [
  { name: 'interface', type: 'string', short: 'i', help: 'interface tunnelled packets arrive on', required: true },
  { name: 'local-address', type: 'list', short: 'a', help: 'tunnel endpoint address of this node (repeatable)', required: true },
  XDP_MODE_FLAG,
  { name: 'bpffs', type: 'string', short: 'b', help: 'bpffs directory for the pins', default: DEFAULT_DECAP_BPFFS },
  { name: 'gue-port', type: 'number', help: 'GUE destination port to strip (0 = IPIP only)', default: 6080 },
  { name: 'foreground', type: 'boolean', help: 'stay running until SIGTERM (default when KUBERNETES_SERVICE_HOST is set)' },
  { name: 'metrics-addr', type: 'string', help: 'with --foreground: HOST:PORT of /metrics, /healthz, /readyz ("" = off)', default: '0.0.0.0:9465' },
  BPF_OBJECT_FLAG,
  LOG_LEVEL_FLAG,
];

export async function decapCommand(argv: readonly string[]): Promise<number> {
  const f = parseFlags('decap', argv, DECAP_FLAGS);
  const addresses = f.list('local-address').map((a) => {
    if (!isIp(a)) throw new UsageError(`--local-address ${JSON.stringify(a)} is not an IP address`, 'pass the node address tunnels are sent to');
    return canonicalIp(a) ?? a;
  });
  const iface = f.str('interface') ?? '';
  const foreground = f.has('foreground') ? f.bool('foreground') : process.env['KUBERNETES_SERVICE_HOST'] !== undefined;
  const metricsAddr = f.str('metrics-addr') ?? '';
  const listen = metricsAddr === '' || !foreground ? undefined : hostPort(metricsAddr, '--metrics-addr');
  const log = logger('decap', f.str('log-level'));
  const ifindex = await ifindexOf(iface);
  const bpffs = f.str('bpffs') ?? DEFAULT_DECAP_BPFFS;
  const started = startDecap({
    interfaceName: iface,
    ifindex,
    bpffs,
    xdpMode: xdpMode(f.str('xdp-mode')),
    localAddresses: addresses,
    gueDestinationPort: f.num('gue-port') ?? 6080,
    objectPath: f.str('bpf-object'),
    log,
  });
  if (foreground) await serveDecapUntilStopped({ bpffs, ifindex, programId: started.programId, listen, log });
  return 0;
}
