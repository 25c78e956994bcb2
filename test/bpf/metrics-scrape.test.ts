// Real scrapes, linted as `promtool check metrics` does: a real agent process
// programming manifests on a veth, and `sterlet decap --foreground` on its
// peer serving the decap program's counters with liveness/readiness.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xdpQuery } from '../../src/libbpf/libbpf.ts';
import { DecapStat, Stat, VERDICT_STATS } from '../../src/agent/dataplane/counters.ts';
import { namesFilePath } from '../../src/agent/dataplane/names-file.ts';
import { NODE_BIN, STERLET_CLI } from '../support/exec.ts';
import { uniqueRunId } from '../support/e2e/names.ts';
import { ProcessGroup, type ManagedProcess } from '../support/e2e/processes.ts';
import { promlint } from '../support/promlint.ts';
import { setCounter } from './harness/pinned-counters.ts';

const id = uniqueRunId();
const tag = id.replace(/\W/g, '').slice(-9);
const veth = `stma${tag}`.slice(0, 15);
const peer = `stmb${tag}`.slice(0, 15);
const bpffs = `/sys/fs/bpf/sterlet-metrics-${id}`;
const decapBpffs = `/sys/fs/bpf/sterlet-metrics-decap-${id}`;
const group = new ProcessGroup();
let scratch = '';

const MANIFESTS = `apiVersion: sterlet.dev/v1alpha1
kind: VirtualIP
metadata: {name: web, namespace: shop}
spec: {address: 10.200.0.10, port: 80, protocol: TCP, backendSelector: {matchLabels: {app: web}}}
---
apiVersion: sterlet.dev/v1alpha1
kind: Backend
metadata: {name: web-1, namespace: shop, labels: {app: web}}
spec: {address: 10.0.1.11, weight: 3}
---
apiVersion: sterlet.dev/v1alpha1
kind: Backend
metadata: {name: web-2, namespace: shop, labels: {app: web}}
spec: {address: 10.0.1.12, weight: 0}
`;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'sterlet-metrics-'));
  mkdirSync(join(scratch, 'm'));
  writeFileSync(join(scratch, 'm', 'web.yaml'), MANIFESTS);
  execFileSync('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', peer]);
  execFileSync('ip', ['link', 'set', veth, 'up']);
  execFileSync('ip', ['link', 'set', peer, 'up']);
});
afterAll(async () => {
  await group.stopAll();
  try {
    execFileSync('ip', ['link', 'del', veth]);
  } finally {
    rmSync(bpffs, { recursive: true, force: true });
    rmSync(namesFilePath(bpffs), { force: true });
    rmSync(decapBpffs, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
});

/** Starts `sterlet ARGS` and returns it with the URL its log line `msg` names in `field`. */
async function serving(name: string, args: readonly string[], msg: string, field: string): Promise<{ proc: ManagedProcess; url: string }> {
  const proc = group.start([NODE_BIN, STERLET_CLI, ...args], { name });
  const { line } = await proc.waitForLine((l) => l.includes(`"msg":"${msg}"`), { timeoutMs: 60_000, what: msg });
  return { proc, url: String((JSON.parse(line) as Record<string, unknown>)[field]) };
}

const ifindexOf = (name: string): number => Number(execFileSync('cat', [`/sys/class/net/${name}/ifindex`]).toString());

describe('promtool check metrics on real scrapes', () => {
  it('the linter rejects what promtool rejects (so a clean result means something)', () => {
    const bad = promlint('# HELP sterlet_x_total x\n# TYPE sterlet_x_total gauge\nsterlet_x_total 1\n');
    expect(bad.code).toBe(3);
    expect(bad.problems.join('\n')).toContain('non-counter metrics should not have "_total" suffix');
  });

  it('agent: every verdict and event family, stable VIP and (VIP, backend) labels, lint-clean', async () => {
    const agent = await serving('agent', ['agent', '--interface', veth, '--manifests', join(scratch, 'm'), '--bpffs', bpffs, '--gateway-mac', '02:00:00:00:00:09',
      '--metrics-addr', '127.0.0.1:0', '--lru-size', '4096', '--ring-size', '251', '--max-vips', '8', '--max-reals', '32'], 'agent started', 'metrics');
    await agent.proc.waitForLine((l) => l.includes('"msg":"applied"'), { timeoutMs: 30_000, what: 'applied' });
    const text = await (await fetch(`${agent.url}/metrics`)).text();
    const lint = promlint(text);
    expect(lint.problems).toEqual([]);
    expect(lint.code).toBe(0);
    const vip = 'namespace="shop",name="web",address="10.200.0.10",port="80",protocol="TCP"';
    expect(text).toContain(`sterlet_vip_packets_total{${vip}} 0`);
    expect(text).toContain('sterlet_vip_backend_ring_slots{namespace="shop",name="web",backend="web-1",address="10.0.1.11"} 251');
    expect(text).toContain('sterlet_vip_backend_ring_slots{namespace="shop",name="web",backend="web-2",address="10.0.1.12"} 0');
    expect(text).toContain('sterlet_vip_backend_weight{namespace="shop",name="web",backend="web-2",address="10.0.1.12"} 0');
    expect(text).toMatch(/sterlet_ring_info\{namespace="shop",name="web",fingerprint="[0-9a-f]{16}"\} 1/);
    expect(text.split('\n').filter((l) => l.startsWith('sterlet_packets_total{'))).toHaveLength(VERDICT_STATS.length);
    expect(text).toContain('sterlet_dataplane_events_total{event="conntrack_repicked_backend_removed"} 0');
    expect(text).not.toMatch(/\bvip="/);
    // Health series name the VirtualIP like every other per-VIP series.
    expect(text).toMatch(/sterlet_agent_backend_healthy\{namespace="shop",name="web",address="10\.0\.1\.11"\} [01]/);
    expect(text).toContain("sterlet_agent_ready 1");

    // The counters are the program's: a value written into the stats map shows up.
    setCounter(join(bpffs, 'stats'), Stat.dropV4Frag, 4);
    expect(await (await fetch(`${agent.url}/metrics`)).text()).toContain('sterlet_packets_total{verdict="drop",reason="ipv4_fragment"} 4');
    // `sterlet stats` (another process, maps only) names VIPs and backends from the agent's names file.
    const table = execFileSync(NODE_BIN, [STERLET_CLI, 'stats', '-b', bpffs], { encoding: 'utf8' });
    expect(table).toContain('shop/web (TCP 10.200.0.10:80)');
    expect(table).toMatch(/10\.0\.1\.11 \(shop\/web-1\)/);
    const json = JSON.parse(execFileSync(NODE_BIN, [STERLET_CLI, 'stats', '-b', bpffs, '-j'], { encoding: 'utf8' })) as { vips: { id?: string }[]; backends: { address: string; names: string[] }[] };
    expect(json.vips.map((v) => v.id)).toEqual(['shop/web']);
    expect(json.backends.find((b) => b.address === '10.0.1.12')?.names).toEqual(['shop/web-2']);
    expect(existsSync(namesFilePath(bpffs))).toBe(true);
    await group.remove(agent.proc);
    execFileSync(NODE_BIN, [STERLET_CLI, 'detach', '--interface', veth, '--bpffs', bpffs]);
    expect(existsSync(namesFilePath(bpffs)), 'detach removes the names file').toBe(false);
  });

  it('decap --foreground: counters on its own address, /healthz, /readyz while attached, lint-clean', async () => {
    const decap = await serving('decap', ['decap', '--interface', peer, '--local-address', '10.0.1.11', '--bpffs', decapBpffs, '--foreground',
      '--metrics-addr', '127.0.0.1:0'], 'serving decap metrics', 'metrics');
    try {
      expect((await fetch(`${decap.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${decap.url}/readyz`)).status).toBe(200);
      setCounter(join(decapBpffs, 'decap_stats'), DecapStat.gue4, 7);
      const text = await (await fetch(`${decap.url}/metrics`)).text();
      expect(promlint(text)).toEqual({ code: 0, problems: [] });
      expect(text).toContain('sterlet_decap_packets_total{verdict="decapsulated",reason="gue_over_ipv4"} 7');
      expect(text).toContain('sterlet_decap_bytes_total{verdict="decapsulated",reason="gue_over_ipv4"} 700');
      expect(text).toContain('sterlet_decap_packets_total{verdict="pass",reason="not_local"} 0');
      expect(text).toContain('sterlet_decap_process_resident_memory_bytes');
      // Someone detaches the program: the pod is no longer ready.
      execFileSync('ip', ['link', 'set', 'dev', peer, 'xdp', 'off']);
      expect((await fetch(`${decap.url}/readyz`)).status).toBe(503);
      expect(await decap.proc.stop('SIGTERM')).toBe(0);
    } finally {
      await group.remove(decap.proc);
      execFileSync(NODE_BIN, [STERLET_CLI, 'detach', '--interface', peer, '--bpffs', decapBpffs]);
    }
    expect(xdpQuery(ifindexOf(peer)).progId).toBe(0);
  });
});
