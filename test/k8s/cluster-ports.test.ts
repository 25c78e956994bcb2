// scripts/cluster.sh port choice across checkouts: each checkout (and the
// demo, STERLET_CLUSTER_DIR=build/demo-cluster) has its own cluster directory, so only a host-wide lock keeps two starts
// woken together from picking the same free ports, and a port taken between
// the free-port check and the bind must be retried on others. Real etcd and
// kube-apiserver, started from two throwaway copies of the scripts.
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../support/kube/paths.ts';

interface Run {
  readonly code: number | null;
  readonly stderr: string;
}

const roots: string[] = [];
const holders: ChildProcess[] = [];
/** STERLET_CLUSTER_DIR clusters a test started (stopped in afterAll even when it failed half way). */
const ownDirs: string[] = [];

/** A copy of the scripts a checkout needs to run cluster.sh (same binary cache). */
function checkout(): string {
  const root = mkdtempSync(join(tmpdir(), 'sterlet-checkout-'));
  roots.push(root);
  mkdirSync(join(root, 'scripts/lib'), { recursive: true });
  for (const f of ['cluster.sh', 'testbin.sh', 'lib/proc.sh', 'lib/cache-build.sh']) cpSync(join(REPO_ROOT, 'scripts', f), join(root, 'scripts', f));
  return root;
}

function cluster(root: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(join(root, 'scripts/cluster.sh'), args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function ports(root: string, base = join(root, 'build')): Record<string, number> {
  const text = readFileSync(join(base, 'cluster/ports'), 'utf8');
  return Object.fromEntries(text.trim().split('\n').map((l) => [l.split('=')[0] ?? '', Number(l.split('=')[1])]));
}

/** Holds 127.0.0.1:PORT bound but not listening: invisible to `ss -l`, yet every bind fails. */
async function holdInvisibly(port: number): Promise<void> {
  const py = `import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",${String(port)}))\nprint("bound",flush=True)\ntime.sleep(600)`;
  const child = spawn('python3', ['-c', py], { stdio: ['ignore', 'pipe', 'inherit'] });
  holders.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`python3 exited ${String(code)} before binding ${String(port)}`)));
  });
}

afterAll(async () => {
  for (const h of holders) h.kill('SIGKILL');
  await Promise.all([
    ...roots.map((r) => cluster(r, ['down'])),
    ...ownDirs.map((dir) => cluster(roots[0] ?? REPO_ROOT, ['down'], { STERLET_CLUSTER_DIR: dir })),
  ]);
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

describe('cluster.sh ports', () => {
  it('starts two checkouts woken together with the same preferred ports on distinct ports', async () => {
    const env = { STERLET_ETCD_PORT: String(await freePort()), STERLET_APISERVER_PORT: String(await freePort()) };
    const [a, b] = [checkout(), checkout()];
    const runs = await Promise.all([cluster(a, ['up'], env), cluster(b, ['up'], env)]);
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const all = [...Object.values(ports(a)), ...Object.values(ports(b))];
    expect(new Set(all).size).toBe(6);
    for (const root of [a, b]) {
      const status = await cluster(root, ['status']);
      expect(status.code, status.stderr).toBe(0);
      expect((await cluster(root, ['down'])).code).toBe(0);
    }
  }, 240_000);

  it('retries on other ports when the chosen one is taken between the check and the bind', async () => {
    const taken = await freePort();
    await holdInvisibly(taken);
    const root = checkout();
    const r = await cluster(root, ['up'], { STERLET_ETCD_PORT: String(taken) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`etcd could not bind port ${String(taken)} (taken after the free-port check); retrying on other ports`);
    expect(ports(root)['etcd']).not.toBe(taken);
    expect((await cluster(root, ['status'])).code).toBe(0);
    expect((await cluster(root, ['down'])).code).toBe(0);
  }, 240_000);

  it('gives STERLET_CLUSTER_DIR a cluster of its own beside the checkout\'s (the demo\'s), started and released independently', async () => {
    const root = checkout();
    const own = join(root, 'build/demo-cluster');
    const env = { STERLET_CLUSTER_DIR: own };
    ownDirs.push(own);
    expect((await cluster(root, ['up'])).code).toBe(0);
    const acquired = await cluster(root, ['acquire', String(process.pid)], env);
    expect(acquired.code, acquired.stderr).toBe(0);
    expect(acquired.stderr).toContain(`kubeconfig ${own}/kubeconfig`);
    expect(new Set([...Object.values(ports(root)), ...Object.values(ports(root, own))]).size).toBe(6);
    expect(readFileSync(join(own, 'kubeconfig'), 'utf8')).not.toBe(readFileSync(join(root, 'build/kubeconfig'), 'utf8'));
    // Releasing the own cluster stops and removes it; the checkout's keeps running.
    expect((await cluster(root, ['release', String(process.pid)], env)).code).toBe(0);
    expect(existsSync(join(own, 'cluster'))).toBe(false);
    expect((await cluster(root, ['status'], env)).code).not.toBe(0);
    expect((await cluster(root, ['status'])).code).toBe(0);
    expect((await cluster(root, ['down'])).code).toBe(0);
  }, 240_000);
});
