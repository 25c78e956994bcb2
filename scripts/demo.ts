// `make demo`: the whole system on one machine, with real packets.
//
// A local kube-apiserver + etcd, Sterlet's CRDs, the controller, one agent
// attached with native XDP to the load balancer's interface in its own network
// namespace, and three backends (namespaces running the decap program and a
// small HTTP server). `kubectl apply -f examples/basic.yaml` declares the VIP;
// a client namespace then sends 100 HTTP requests to it and the replies come
// straight back from the backends (DSR).
//
// Two acts on one topology: first the standalone agent from a manifest
// directory (no Kubernetes; on a first run the Kubernetes test binaries build
// meanwhile, about 25 minutes, their output in a log file), then the same VIP
// through the API server and the controller.
//
// Usage: node scripts/demo.ts [--keep]   (--keep: leave it running until Ctrl-C)
import { join } from 'node:path';
import { readManifests } from '../src/compile/manifests.ts';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { backendNames, painter, requestTable, spreadNote, statsNote } from './demo-explain.ts';
import { standaloneAct } from './demo-standalone.ts';
import { attachDecap, cleanEnv, sterlet } from '../test/support/e2e/agent.ts';
import { createBpffsDir } from '../test/support/e2e/bpffs.ts';
import { TrafficClient } from '../test/support/e2e/client.ts';
import { NODE_BIN, REPO_ROOT, run, runQuiet, STERLET_CLI } from '../test/support/exec.ts';
import { startHttpServers } from '../test/support/e2e/servers.ts';
import { Topology } from '../test/support/e2e/topology.ts';
import { CLUSTER_SCRIPT, kubeconfigPath, kubectl, TESTBIN_SCRIPT } from '../test/support/kube/index.ts';
import { installCrds } from '../test/support/kube/crds.ts';
import { Proxy } from '../test/support/kube/proxy.ts';

// A control plane of the demo's own (scripts/cluster.sh): its controller runs
// without leader election and would reconcile a test run's objects on a shared one.
process.env['STERLET_CLUSTER_DIR'] ??= join(REPO_ROOT, 'build/demo-cluster');
delete process.env['STERLET_KUBECONFIG'];

const keep = process.argv.includes('--keep');
const EXAMPLES = [join(REPO_ROOT, 'examples/pool.yaml'), join(REPO_ROOT, 'examples/basic.yaml')];
const NODE_NAME = 'demo-lb-1';
const REQUESTS = 100;
const started = performance.now();

// Colour only on a terminal: `make demo > demo.log` stays plain text.
const paint = painter(process.stdout);
const paintErr = painter(process.stderr);

function step(text: string): void {
  const seconds = ((performance.now() - started) / 1000).toFixed(1).padStart(5);
  console.log(`${paint('36', `[${seconds}s]`)} ${text}`);
}

function section(title: string, body: string): void {
  console.log(`\n${paint('1', title)}\n${body.trimEnd()}`);
}

const cleanups: (() => Promise<unknown>)[] = [];
async function teardown(): Promise<void> {
  step('tearing down');
  for (const cleanup of cleanups.reverse()) await cleanup().catch((e: unknown) => console.error(`cleanup: ${String(e)}`));
}

/** Starts scripts/testbin.sh when a binary is missing; its progress lines go to the terminal. */
async function buildTestbinIfMissing(): Promise<{ done: Promise<void> } | undefined> {
  if (await runQuiet([TESTBIN_SCRIPT, '--check'])) return undefined;
  step('the Kubernetes test binaries are not built yet: building them in the background while act 1 runs (once, then cached)');
  const child = spawn(TESTBIN_SCRIPT, [], { stdio: ['ignore', 'ignore', 'pipe'] });
  cleanups.push(async () => void (child.exitCode === null && child.kill('SIGTERM')));
  // testbin.sh prints an estimate, the log file's path and a line per binary.
  createInterface({ input: child.stderr }).on('line', (line) => step(`  ${line}`));
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`scripts/testbin.sh exited ${String(code)} (its lines above name the log)`))));
  });
  // Rejections surface where it is awaited, after act 1.
  done.catch(() => undefined);
  return { done };
}

async function main(): Promise<void> {
  const testbin = await buildTestbinIfMissing();

  step('building the network: client -- router -- load balancer, router -- 3 backends (namespaces + veths)');
  // --keep also keeps the logs (controller.log, agent.log) after Ctrl-C.
  const t = await Topology.create({ backends: 3, keepScratch: keep });
  cleanups.push(() => t.destroy());
  const bpffs = await createBpffsDir(t);
  await startHttpServers(t, t.backends);
  step('attaching the XDP decap program on every backend (`sterlet decap`)');
  for (const b of t.backends) await attachDecap(b, bpffs.path);
  await t.routeVipToBalancer();
  const traffic = await TrafficClient.start(t);

  await standaloneAct(t, traffic, bpffs.path, REQUESTS, { step, section });

  if (testbin !== undefined) {
    step('act 2 needs kube-apiserver and etcd: waiting for their build to finish');
    await testbin.done;
  }
  step(`act 2, Kubernetes: starting a local kube-apiserver + etcd of the demo's own on loopback (scripts/cluster.sh acquire, state in ${String(process.env['STERLET_CLUSTER_DIR'])})`);
  // acquire/release: the cluster stops when its last user leaves, unless `make cluster-up` started it.
  await run([CLUSTER_SCRIPT, 'acquire', String(process.pid)], { timeoutMs: 120_000 });
  cleanups.push(() => run([CLUSTER_SCRIPT, 'release', String(process.pid)], { timeoutMs: 60_000 }));
  step('installing the CRDs (VirtualIP, Backend, VirtualIPPool, LoadBalancerNode)');
  await installCrds();

  step('starting the controller (`sterlet controller`)');
  const controller = t.processes.start(
    [NODE_BIN, STERLET_CLI, 'controller', '--kubeconfig', kubeconfigPath(), '--leader-elect=false', '--metrics-addr', '127.0.0.1:0'],
    { name: 'controller', logFile: join(t.scratch, 'controller.log'), env: cleanEnv() },
  );

  step(`starting the agent in the load balancer's namespace ${t.lb.netns} (\`sterlet agent --interface ${t.lb.iface} --xdp-mode native\`; that ${t.lb.iface} is the namespace's veth, not the host's NIC)`);
  // The agent's namespace has no route to the host's loopback, where the API
  // server listens: a Unix socket (files cross network namespaces) bridges it.
  const api = new URL((await kubectl(['config', 'view', '--minify', '-o', 'jsonpath={.clusters[0].cluster.server}'])).stdout);
  const socket = join(t.scratch, 'api.sock');
  const bridge = await Proxy.listen({ path: socket }, { host: api.hostname, port: Number(api.port) });
  cleanups.push(() => bridge.close());
  await t.processes
    .start([NODE_BIN, join(REPO_ROOT, 'test/support/kube/proxy.ts'), `127.0.0.1:${api.port}`, socket], {
      name: 'api-bridge', netns: t.lb.netns, logFile: join(t.scratch, 'api-bridge.log'),
    })
    .waitForLine(/listening/, { what: 'the API bridge' });
  const agentBpffs = join(bpffs.path, NODE_NAME);
  const agent = t.processes.start(
    [NODE_BIN, STERLET_CLI, 'agent', '--interface', t.lb.iface, '--kubeconfig', kubeconfigPath(), '--node-name', NODE_NAME,
      '--bpffs', agentBpffs, '--xdp-mode', 'native', '--gateway-mac', await t.gatewayMac(), '--metrics-addr', '127.0.0.1:9464'],
    { name: 'agent', netns: t.lb.netns, logFile: join(t.scratch, 'agent.log'), env: cleanEnv() },
  );
  // Before the cluster stops: kube-apiserver waits for its open watches on shutdown (13 s with these two running).
  cleanups.push(() => Promise.all([agent.stop('SIGTERM'), controller.stop('SIGTERM')]));
  cleanups.push(() => kubectl(['delete', 'loadbalancernode', NODE_NAME, '--ignore-not-found', '--wait=false'], { allowFail: true }));

  step('kubectl apply -f examples/pool.yaml -f examples/basic.yaml');
  const applied = await kubectl(['apply', '-n', 'default', ...EXAMPLES.flatMap((f) => ['-f', f])]);
  console.log(applied.stdout.trimEnd().replace(/^/gm, '    '));
  cleanups.push(() => kubectl(['delete', 'virtualippool', 'examples', '--ignore-not-found', '--wait=false'], { allowFail: true }));
  cleanups.push(() => kubectl(['delete', '-n', 'default', '-f', EXAMPLES[1] ?? '', '--ignore-not-found', '--timeout=30s'], { allowFail: true }));

  step('waiting for the VIP to be Programmed on the load-balancer node');
  const waited = await kubectl(['wait', '-n', 'default', '--for=condition=Programmed', 'vip/web', '--timeout=90s'], { allowFail: true });
  if (waited.code !== 0) {
    throw new Error(`the VIP did not become Programmed:\n${waited.stderr}\ncontroller:\n${controller.tail(10)}\nagent:\n${agent.tail(10)}`);
  }

  step(`sending ${String(REQUESTS)} HTTP requests from the client namespace to ${t.vip}:80 (a new TCP connection each)`);
  const stats = await traffic.burst(REQUESTS, { concurrency: 4 });
  section(
    `Act 2, requests per backend (${String(stats.ok)}/${String(REQUESTS)} answered, ${String(stats.failures)} failed, ${String(stats.resets)} reset):`,
    requestTable(stats.counts),
  );
  console.log(spreadNote(REQUESTS, Object.keys(stats.counts).length));
  const objects = (await readManifests(EXAMPLES[1] ?? '')).objects.flatMap((o) => (o.kind === 'Backend' ? [{ name: o.metadata.name, address: o.spec.address }] : []));
  section('One backend, three names (the HTTP answer, the Backend object, its address):', backendNames(t.backends, objects));
  section('$ kubectl get vip,be -n default', (await kubectl(['get', 'vip,be', '-n', 'default'])).stdout);
  section('$ sterlet stats', (await sterlet(t.lb.netns, ['stats', '--bpffs', agentBpffs])).stdout);
  console.log(statsNote(REQUESTS));
  if (stats.ok !== REQUESTS) throw new Error(`${String(REQUESTS - stats.ok)} requests failed`);

  if (keep) {
    section(
      'Everything is still running.',
      [
        `  kubectl --kubeconfig ${kubeconfigPath()} get vip,be,lbn -A`,
        `  ip netns exec ${t.client.netns} curl -s http://${t.vip}/`,
        `  ip netns exec ${t.lb.netns} ${NODE_BIN} ${STERLET_CLI} stats --bpffs ${agentBpffs}`,
        `  logs: ${t.scratch} (kept after Ctrl-C)`,
        '  Press Ctrl-C to tear it all down.',
      ].join('\n'),
    );
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
  }
}

let failed = false;
try {
  await main();
} catch (error) {
  failed = true;
  console.error(`\n${paintErr('31', 'demo failed:')} ${error instanceof Error ? error.message : String(error)}`);
} finally {
  await teardown();
  step(failed ? 'done (failed)' : 'done');
  if (!keep) console.log('The teardown removed the namespaces and the controller and agent logs; `make demo DEMO_ARGS=--keep` leaves everything running until Ctrl-C and keeps the logs.');
}
process.exitCode = failed ? 1 : 0;
