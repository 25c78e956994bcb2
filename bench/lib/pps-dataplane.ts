// The three dataplanes of bench-pps on a PpsPair's lb namespace: Sterlet (the
// real agent, standalone from manifests, native XDP on the lb veth, IPIP to
// the endpoints), a kube-proxy-shaped nftables DNAT rule set, and plain kernel
// forwarding. Shared by bench/pps.ts and its e2e test.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { NODE_BIN, run, runQuiet, STERLET_CLI } from '../../test/support/exec.ts';
import { kubeProxyRuleset } from './kube-nft.ts';
import { ENDPOINTS, VIP, VIP_PORT, type PpsPair } from './pps-rig.ts';

export type Dataplane = 'sterlet' | 'nftables' | 'forward';

export interface DataplaneContext {
  /** Directory for manifests, rule files and the agent's log. */
  readonly scratch: string;
  /** Unique per run: names the nftables table. */
  readonly tag: string;
  /** Unique per pair in the run: names the rule file. */
  readonly id: string;
}

/** Sets `dp` up on the pair; returns the agent's bpffs path (inside the lb namespace) for Sterlet. */
export async function setUpDataplane(pair: PpsPair, dp: Dataplane, ctx: DataplaneContext): Promise<string | undefined> {
  if (dp === 'sterlet') {
    // No kernel forwarding beside Sterlet: a packet its program passed would otherwise be counted as balanced.
    await run(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0'], { netns: pair.names.lb });
    return startSterlet(pair, ctx.scratch);
  }
  // Kernel paths: GRO gives the veth its NAPI, which frames sent with XDP (redirect, TX) need.
  await pair.enableGro();
  if (dp === 'nftables') {
    const rules = kubeProxyRuleset({
      table: `sterlet-bench-${ctx.tag}`,
      name: 'bench/web',
      address: VIP,
      port: VIP_PORT,
      clusterCidr: '10.244.0.0/16',
      endpoints: ENDPOINTS.map((address) => ({ address, port: VIP_PORT })),
    });
    const file = join(ctx.scratch, `kube-proxy-${ctx.id}.nft`);
    await writeFile(file, rules);
    await run(['nft', '-f', file], { netns: pair.names.lb });
  }
  return undefined;
}

/** The real agent, standalone from manifests, native XDP on the lb veth; resolves once it applied the VIP. */
async function startSterlet(pair: PpsPair, scratch: string): Promise<string> {
  const dir = join(scratch, `sterlet-${pair.names.lb}`);
  const manifests = join(dir, 'manifests');
  await mkdir(manifests, { recursive: true });
  const ns = 'bench';
  const docs = [
    { apiVersion: 'sterlet.dev/v1alpha1', kind: 'VirtualIP', metadata: { name: 'web', namespace: ns }, spec: { address: VIP, port: VIP_PORT, protocol: 'TCP', backendSelector: { matchLabels: { app: 'web' } }, encapsulation: 'IPIP' } },
    ...ENDPOINTS.map((address, i) => ({ apiVersion: 'sterlet.dev/v1alpha1', kind: 'Backend', metadata: { name: `web-${String(i)}`, namespace: ns, labels: { app: 'web' } }, spec: { address } })),
  ];
  await writeFile(join(manifests, 'web.yaml'), docs.map((d) => stringify(d)).join('---\n'));
  // `ip netns exec` hides /sys/fs/bpf: bind the run's bpffs directory to a path it keeps.
  const hostBpffs = join('/sys/fs/bpf', pair.names.lb);
  const bpffs = join(dir, 'bpffs');
  await mkdir(hostBpffs);
  pair.onDestroy(() => rm(hostBpffs, { recursive: true, force: true }));
  await mkdir(bpffs);
  await run(['mount', '--bind', hostBpffs, bpffs]);
  pair.onDestroy(async () => void (await runQuiet(['umount', '-l', bpffs])));
  const argv = [NODE_BIN, STERLET_CLI, 'agent', '--interface', pair.names.lbIf, '--manifests', manifests, '--bpffs', bpffs,
    '--xdp-mode', 'native', '--gateway-mac', pair.routerMac, '--metrics-addr', '', '--log-level', 'info'];
  const child = pair.spawnInLb(argv, join(dir, 'agent.log'));
  await new Promise<void>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`BENCH_PPS: the agent did not apply the VIP in 60 s; log in ${dir}/agent.log`)), 60_000);
    child.on('exit', (code) => reject(new Error(`BENCH_PPS: the agent exited (${String(code)}) before applying; log in ${dir}/agent.log`)));
    const onData = (d: Buffer): void => {
      buf += d.toString();
      if (buf.split('\n').some((l) => l.includes('"msg":"applied"') && /"changes":[1-9]/.test(l))) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
  });
  return bpffs;
}

/** The agent's LRU hit and miss counters and the packets its VIPs balanced (`sterlet stats`). */
export async function lruStats(pair: PpsPair, bpffs: string): Promise<{ hits: number; misses: number; vipPackets: number }> {
  const { stdout } = await run([NODE_BIN, STERLET_CLI, 'stats', '--json', '--bpffs', bpffs], { netns: pair.names.lb });
  const { lru, vips } = JSON.parse(stdout) as { lru: { hits: number; misses: number }; vips: { packets: number }[] };
  return { hits: lru.hits, misses: lru.misses, vipPackets: vips.reduce((sum, v) => sum + v.packets, 0) };
}
