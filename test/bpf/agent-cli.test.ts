// The `sterlet` CLI as an operator runs it, against the real kernel: an agent
// process on a veth in the root namespace programs manifests, answers
// /readyz, is inspected with stats/simulate/plan, rejects an invalid change,
// survives kill -9 (a new process adopts the pins), stops on SIGTERM leaving
// the program attached, and detach cleans up. Traffic tests live in test/e2e.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BpfMap, xdpQuery } from '../../src/libbpf/libbpf.ts';
import { DecapStat, Stat } from '../../src/agent/dataplane/counters.ts';
import { setCounter } from './harness/pinned-counters.ts';

const NODE = 'node_modules/.bin/node';
const CLI = 'src/cli/sterlet.ts';
const tag = `${process.pid}${Math.random().toString(36).slice(2, 6)}`;
const veth = `stla${tag}`.slice(0, 15);
const peer = `stlb${tag}`.slice(0, 15);
const bpffs = `/sys/fs/bpf/sterlet-cli-${tag}`;
const decapBpffs = `/sys/fs/bpf/sterlet-cli-decap-${tag}`;
let scratch: string;
let manifests: string;
let ifindex: number;
const children: ChildProcess[] = [];

const manifest = (backends: string[], port = 80): string =>
  [
    `apiVersion: sterlet.dev/v1alpha1\nkind: VirtualIP\nmetadata: {name: web, namespace: default}\nspec: {address: 10.200.0.10, port: ${port}, protocol: TCP, backendSelector: {matchLabels: {app: web}}}`,
    ...backends.map((a, i) => `apiVersion: sterlet.dev/v1alpha1\nkind: Backend\nmetadata: {name: web-${i}, namespace: default, labels: {app: web}}\nspec: {address: ${a}}`),
  ].join('\n---\n');

interface Agent {
  proc: ChildProcess;
  lines: Record<string, unknown>[];
  waitFor(pred: (l: Record<string, unknown>) => boolean, what: string): Promise<Record<string, unknown>>;
}

function startAgent(...extra: string[]): Agent {
  const proc = spawn(NODE, [CLI, 'agent', ...extra, '--interface', veth, '--manifests', manifests, '--bpffs', bpffs, '--gateway-mac', '02:00:00:00:00:09',
    '--metrics-addr', '127.0.0.1:0', '--lru-size', '4096', '--ring-size', '251', '--max-vips', '8', '--max-reals', '32', '--log-level', 'debug', '--flow-count-interval', '0.2'], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(proc);
  const lines: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  let buf = '';
  proc.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
      for (const w of waiters.splice(0)) w();
    }
  });
  return {
    proc,
    lines,
    waitFor: async (pred, what) => {
      const deadline = Date.now() + 30_000;
      let seen = 0;
      for (;;) {
        for (; seen < lines.length; seen++) if (pred(lines[seen]!)) return lines[seen]!;
        if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`agent: no ${what}; log:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
    },
  };
}

function sterlet(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(NODE, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const msg = (m: string) => (l: Record<string, unknown>): boolean => l['msg'] === m;

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'sterlet-cli-'));
  manifests = join(scratch, 'manifests');
  mkdirSync(manifests);
  writeFileSync(join(manifests, 'web.yaml'), manifest(['10.0.1.11', '10.0.1.12']));
  execFileSync('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', peer]);
  execFileSync('ip', ['link', 'set', veth, 'up']);
  execFileSync('ip', ['link', 'set', peer, 'up']);
  ifindex = Number(execFileSync('cat', [`/sys/class/net/${veth}/ifindex`]).toString());
});
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  try {
    execFileSync('ip', ['link', 'del', veth]);
  } finally {
    rmSync(bpffs, { recursive: true, force: true });
    rmSync(decapBpffs, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  }
});

describe('sterlet CLI against the kernel', () => {
  it('runs, inspects, rejects, restarts, stops and detaches', async () => {
    expect(sterlet('agent', '--interface', veth).code).toBe(2);

    const agent = startAgent();
    const started = await agent.waitFor(msg('agent started'), '"agent started"');
    const applied = await agent.waitFor((l) => l['msg'] === 'applied' && l['reason'] === 'source', '"applied"');
    expect(applied).toMatchObject({ vips: 1, vipsChanged: ['added default/web'] });
    expect(applied['changes']).toBe(2 + 251 + 1 + 1);
    // The too-big budget defaults to the interface MTU, in the log and in the settings map.
    const linkMtu = Number(execFileSync('cat', [`/sys/class/net/${veth}/mtu`]).toString());
    expect(started['mtu']).toBe(linkMtu);
    expect(settingsMtu()).toBe(linkMtu);
    const ready = await fetch(`${String(started['metrics'])}/readyz`);
    expect(ready.status).toBe(200);
    const metrics = await (await fetch(`${String(started['metrics'])}/metrics`)).text();
    expect(metrics).toContain('sterlet_vip_packets_total{namespace="default",name="web",address="10.200.0.10",port="80",protocol="TCP"}');

    const sim = sterlet('simulate', '--bpffs', bpffs, '--json', '--flow', 'tcp 192.0.2.7:5555 -> 10.200.0.10:80');
    expect(sim.code).toBe(0);
    const simulated = JSON.parse(sim.stdout) as { verdict: string; backend: string; encapsulation: string };
    expect(simulated.verdict).toBe('TX');
    expect(['10.0.1.11', '10.0.1.12']).toContain(simulated.backend);
    expect(simulated.encapsulation).toBe('IPIP');
    expect(JSON.parse(sterlet('simulate', '--bpffs', bpffs, '--json', '--flow', 'udp 192.0.2.7:5555 -> 10.200.0.10:80').stdout)).toMatchObject({ verdict: 'PASS' });

    const stats = JSON.parse(sterlet('stats', '--bpffs', bpffs, '--json').stdout) as {
      vips: { key: string; packets: number; backends: string[] }[];
      counters: { txForward: { packets: number } };
    };
    expect(stats.vips).toEqual([expect.objectContaining({ key: 'TCP 10.200.0.10:80', packets: 1, backends: ['10.0.1.11', '10.0.1.12'] })]);
    expect(stats.counters.txForward.packets).toBe(1);
    // evLruRealGone (a flow whose backend was removed, re-picked) is shown by name.
    setCounter(join(bpffs, 'stats'), Stat.evLruRealGone, 3);
    const gone = JSON.parse(sterlet('stats', '--bpffs', bpffs, '--json').stdout) as { lru: { repickedAfterBackendRemoval: number } };
    expect(gone.lru.repickedAfterBackendRemoval).toBe(3);
    expect(sterlet('stats', '--bpffs', bpffs).stdout).toContain('re-picked after backend removal 3');

    // A veth has no queue interrupts: every online CPU forwards, and the log says why.
    const chosen = agent.lines.find(msg('forwarding CPUs chosen'));
    expect(chosen).toMatchObject({ source: 'all-online', reason: expect.stringContaining('no MSI interrupts') });
    // An established packet creates a connection-table entry: flows per backend in stats and the metric.
    const est = JSON.parse(sterlet('simulate', '--bpffs', bpffs, '--json', '--tcp-flags', 'A', '--flow', 'tcp 192.0.2.8:6000 -> 10.200.0.10:80').stdout) as { backend: string };
    const withFlow = JSON.parse(sterlet('stats', '--bpffs', bpffs, '--json').stdout) as { flows: { vips: unknown[]; backends: unknown[] } };
    expect(withFlow.flows.vips).toEqual([expect.objectContaining({ vip: 'default/web', backend: est.backend, flows: 1, recent: 1 })]);
    expect(sterlet('stats', '--bpffs', bpffs, '--recent', '-1').stderr).toContain('--recent -1 is not a number of seconds');
    const gauge = `sterlet_backend_flows{backend="${est.backend}",state="recent"} 1`;
    const scrape = async (): Promise<string> => {
      try {
        // A fresh connection: a pooled one may meet the server's keep-alive timeout.
        return await (await fetch(`${String(started['metrics'])}/metrics`, { headers: { connection: 'close' } })).text();
      } catch (err) {
        throw new Error(`scrape failed: ${String(err)}; agent running: ${String(agent.proc.exitCode)}; log tail: ${agent.lines.slice(-5).map((l) => JSON.stringify(l)).join('\n')}`);
      }
    };
    for (let i = 0; i < 50 && !(await scrape()).includes(gauge); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await scrape()).toContain(gauge);

    const other = join(scratch, 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'web.yaml'), manifest(['10.0.1.11', '10.0.1.12', '10.0.1.13']));
    const planned = sterlet('plan', '--bpffs', bpffs, '--manifests', other);
    expect(planned.code).toBe(0);
    expect(planned.stdout).toMatch(/changed\s+default\/web .*% of ring slots move/);
    expect(planned.stdout).toContain('+ backend 10.0.1.13');

    writeFileSync(join(manifests, 'web.yaml'), manifest(['10.0.1.11'], 70000));
    const rejected = await agent.waitFor((l) => String(l['msg']).startsWith('desired state rejected'), 'rejection');
    expect(String(rejected['msg'])).toMatch(/web\.yaml, document 1, VirtualIP web.*spec\.port/);
    writeFileSync(join(manifests, 'web.yaml'), manifest(['10.0.1.11', '10.0.1.12']));
    await agent.waitFor((l) => l['msg'] === 'applied' && l['changes'] === 0 && l['reason'] === 'source', 'no-op apply');

    const programId = xdpQuery(ifindex).progId;
    agent.proc.kill('SIGKILL');
    await new Promise((r) => agent.proc.once('exit', r));
    expect(xdpQuery(ifindex).progId).toBe(programId);

    const second = startAgent('--mtu', '0');
    expect(await second.waitFor(msg('dataplane adopted'), 'adoption')).toMatchObject({ outcome: 'adopted', programId });
    expect(await second.waitFor(msg('agent started'), '"agent started"')).toMatchObject({ mtu: 0 });
    expect(settingsMtu(), '--mtu 0 turns too-big generation off').toBe(0);
    await second.waitFor((l) => l['msg'] === 'applied' && l['changes'] === 0, 'no-op apply after restart');
    second.proc.kill('SIGTERM');
    const code = await new Promise((r) => second.proc.once('exit', r));
    expect(code).toBe(0);
    expect(xdpQuery(ifindex).progId).toBe(programId);

    const detached = sterlet('detach', '--interface', veth, '--bpffs', bpffs);
    expect(detached.code).toBe(0);
    expect(detached.stdout).toContain(`detached program ${programId}`);
    expect(xdpQuery(ifindex).progId).toBe(0);
    expect(existsSync(join(bpffs, 'vips'))).toBe(false);
    expect(sterlet('stats', '--bpffs', bpffs).stderr).toContain('AGENT_NOT_RUNNING');
  });
});

/** The mtu field of the pinned balancer settings (u16 at offset 10, see codec.ts). */
function settingsMtu(): number | undefined {
  const map = BpfMap.fromPinned(join(bpffs, 'settings'));
  try {
    return map.lookup(Buffer.alloc(4))?.readUInt16LE(10);
  } finally {
    map.close();
  }
}

describe('sterlet stats for the decap program', () => {
  it('plans two namespaces\' QUIC VIPs whose backends share a server id (ids are per VIP), and names what it leaves out', () => {
    const dir = join(scratch, 'quic-tenants');
    mkdirSync(dir);
    const tenant = (ns: string, name: string, vip: string, backend: string): string =>
      [
        `apiVersion: sterlet.dev/v1alpha1\nkind: VirtualIP\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: {address: ${vip}, port: 443, protocol: UDP, quic: true, backendSelector: {matchLabels: {app: ${name}}}}`,
        `apiVersion: sterlet.dev/v1alpha1\nkind: Backend\nmetadata: {name: ${name}-1, namespace: ${ns}, labels: {app: ${name}}}\nspec: {address: ${backend}, quicServerId: 7}`,
      ].join('\n---\n');
    writeFileSync(join(dir, 'a.yaml'), tenant('team-a', 'qa', '10.90.0.21', '10.90.3.21'));
    writeFileSync(join(dir, 'b.yaml'), tenant('team-b', 'qb', '10.90.0.31', '10.90.3.31'));
    // A directory on bpffs where nothing is pinned (--bpffs must be on bpffs).
    const nothingPinned = `${bpffs}-nothing`;
    const planned = sterlet('plan', '--bpffs', nothingPinned, '--manifests', dir, '--max-vips', '1', '--json');
    expect(planned.code, planned.stderr).toBe(0);
    const out = JSON.parse(planned.stdout) as { vips: { id: string; change: string }[]; rejected: { id: string; code: string; message: string }[] };
    // --max-vips 1: one VIP is left out and named; the plan itself does not fail.
    expect(out.vips.map((v) => [v.id, v.change])).toEqual([['team-a/qa', 'added']]);
    expect(out.rejected).toEqual([expect.objectContaining({ id: 'team-b/qb', code: 'AGENT_VIPS_CAPACITY' })]);
    const both = sterlet('plan', '--bpffs', nothingPinned, '--manifests', dir);
    rmSync(nothingPinned, { recursive: true, force: true });
    expect(both.code, both.stderr).toBe(0);
    expect(both.stdout).toMatch(/added\s+team-a\/qa/);
    expect(both.stdout).toMatch(/added\s+team-b\/qb/);
    expect(both.stdout).not.toContain('left out');
  });

  it('shows the decap counters with --bpffs DIR (detected) and with --decap', () => {
    const started = sterlet('decap', '--interface', peer, '--local-address', '10.0.1.11', '--bpffs', decapBpffs, '--foreground=false');
    try {
      expect(started.code, started.stderr).toBe(0);
      setCounter(join(decapBpffs, 'decap_stats'), DecapStat.gue4, 7);
      setCounter(join(decapBpffs, 'decap_stats'), DecapStat.passNotLocal, 2);
      const json = sterlet('stats', '--bpffs', decapBpffs, '--json');
      expect(json.code, json.stderr).toBe(0);
      const snapshot = JSON.parse(json.stdout) as { counters: Record<string, { packets: number; bytes: number }> };
      expect(snapshot.counters['gue4']).toEqual({ packets: 7, bytes: 700 });
      expect(snapshot.counters['passNotLocal']).toEqual({ packets: 2, bytes: 200 });
      expect(Object.keys(snapshot.counters).sort()).toEqual(Object.keys(DecapStat).sort());
      const table = sterlet('stats', '--decap', '--bpffs', decapBpffs);
      expect(table.code, table.stderr).toBe(0);
      expect(table.stdout).toMatch(/decapsulated GUE over IPv4\s+7\s+700/);
      // --decap on a directory with nothing pinned names the problem.
      expect(sterlet('stats', '--decap', '--bpffs', join(decapBpffs, 'none')).stderr).toContain('DECAP_NOT_RUNNING');
    } finally {
      sterlet('detach', '--interface', peer, '--bpffs', decapBpffs);
    }
    expect(xdpQuery(Number(execFileSync('cat', [`/sys/class/net/${peer}/ifindex`]).toString())).progId).toBe(0);
  });
});

describe('sterlet decap --foreground', () => {
  it('stays up until SIGTERM, then exits 0 with a log line, the program still attached', async () => {
    const ifindex = Number(execFileSync('cat', [`/sys/class/net/${peer}/ifindex`]).toString());
    const proc = spawn(NODE, [CLI, 'decap', '--interface', peer, '--local-address', '10.0.1.11', '--bpffs', decapBpffs, '--foreground'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(proc);
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<{ code: number | null; signal: string | null }>((r) => proc.on('exit', (code, signal) => r({ code, signal })));
    try {
      const deadline = Date.now() + 30_000;
      while (!out.includes('"msg":"decap created"') && Date.now() < deadline && proc.exitCode === null) await new Promise((r) => setTimeout(r, 100));
      expect(out).toContain('"msg":"decap created"');
      await new Promise((r) => setTimeout(r, 1000));
      expect(proc.exitCode, `exited on its own:\n${out}`).toBeNull(); // it used to end at once (exit 13)
      proc.kill('SIGTERM');
      expect(await exited, out).toEqual({ code: 0, signal: null });
      expect(out).not.toContain('unsettled top-level await');
      expect(out).toMatch(/"signal":"SIGTERM".*"msg":"stopping; the decap program stays attached"/);
      expect(xdpQuery(ifindex).progId).not.toBe(0);
    } finally {
      sterlet('detach', '--interface', peer, '--bpffs', decapBpffs);
    }
    expect(xdpQuery(ifindex).progId).toBe(0);
  });
});
