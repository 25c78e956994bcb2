// `sterlet controller`: the cluster-wide controller (src/controller), loaded
// only when asked for so agent-only images and commands do not pay for it.

import { SterletError } from '../common/errors.ts';
import { parseFlags, type FlagSpec, UsageError } from './args.ts';
import { LOG_LEVEL_FLAG } from './common.ts';

export const CONTROLLER_FLAGS: readonly FlagSpec[] = [
  { name: 'kubeconfig', type: 'string', help: 'kubeconfig (default: in-cluster service account or $KUBECONFIG)' },
  { name: 'leader-elect', type: 'boolean', help: 'hold a Lease so only one replica reconciles', default: true },
  { name: 'lease-namespace', type: 'string', help: 'namespace of the Lease', default: 'sterlet-system' },
  { name: 'lease-name', type: 'string', help: 'name of the Lease', default: 'sterlet-controller' },
  { name: 'metrics-addr', type: 'string', help: 'HOST:PORT of /metrics, /healthz, /readyz', default: '0.0.0.0:8080' },
  { name: 'services', type: 'boolean', help: 'serve Services of type LoadBalancer (needs RBAC for services, endpointslices, nodes)', default: true },
  { name: 'load-balancer-class', type: 'string', help: 'spec.loadBalancerClass of the Services Sterlet serves', default: 'sterlet.dev/xdp' },
  { name: 'default-load-balancer-class', type: 'boolean', help: 'also serve LoadBalancer Services that set no loadBalancerClass', default: false },
  { name: 'service-node-selector', type: 'string', help: 'labels (k=v,k2=v2) of the Nodes that may be Service backends (decap + kube-proxy); default every node' },
  LOG_LEVEL_FLAG,
];

/** `k=v,k2=v2` -> matchLabels; a clear usage error otherwise. */
export function parseNodeSelector(text: string | undefined): { matchLabels: Record<string, string> } | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const matchLabels: Record<string, string> = {};
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim();
    if (eq <= 0 || key === '') {
      throw new UsageError(`--service-node-selector: "${part}" is not key=value`, 'pass labels as key=value[,key=value], e.g. node-role.sterlet.dev/backend=true');
    }
    matchLabels[key] = part.slice(eq + 1).trim();
  }
  return { matchLabels };
}

export async function controllerCommand(argv: readonly string[]): Promise<number> {
  const f = parseFlags('controller', argv, CONTROLLER_FLAGS);
  let mod: typeof import('../controller/main.ts');
  try {
    // A literal specifier, so the build rewrites it to main.js like every other import.
    mod = await import('../controller/main.ts');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
    throw new SterletError('CONTROLLER_NOT_BUILT', 'this build of sterlet has no controller', {
      why: 'src/controller/main.ts is not part of it',
      fix: 'use an image or checkout that includes the controller',
      cause: err,
    });
  }
  await mod.runController({
    kubeconfig: f.str('kubeconfig'),
    leaderElect: f.bool('leader-elect'),
    leaseNamespace: f.str('lease-namespace'),
    leaseName: f.str('lease-name'),
    metricsAddr: f.str('metrics-addr'),
    logLevel: f.str('log-level'),
    services: {
      enabled: f.bool('services'),
      loadBalancerClass: f.str('load-balancer-class'),
      defaultClass: f.bool('default-load-balancer-class'),
      nodeSelector: parseNodeSelector(f.str('service-node-selector')),
    },
  });
  return 0;
}
