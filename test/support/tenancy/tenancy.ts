// Helpers shared by the tenancy tests: pools that are always deleted, Events
// about a VirtualIP, the raw object JSON (what Argo CD and kubectl see), and
// the Argo CD health check from docs/gitops.md run on it.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { getJson, kubectl, REPO_ROOT, uniqueName } from '../kube/index.ts';
import { applyObjects, pool } from '../kube/objects.ts';

/** VirtualIPPools this test file created; deleteCreatedPools() removes them (call it in afterAll). */
const created = new Set<string>();

export async function createPool(prefix: string, spec: Record<string, unknown>): Promise<string> {
  const name = uniqueName(prefix);
  created.add(name);
  await applyObjects(undefined, [pool(name, spec)]);
  return name;
}

/** Replaces a pool's spec (kubectl apply of the whole object, as a cluster admin's GitOps repo would). */
export async function updatePool(name: string, spec: Record<string, unknown>): Promise<void> {
  await applyObjects(undefined, [pool(name, spec)]);
}

export async function deleteCreatedPools(): Promise<void> {
  for (const name of created) {
    await kubectl(['delete', 'virtualippool', name, '--ignore-not-found', '--wait=false'], { allowFail: true });
  }
  created.clear();
}

/** A pool that only the given namespaces may use (selected by the built-in name label). */
export function onlyNamespaces(...namespaces: string[]): Record<string, unknown> {
  return { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: namespaces }] };
}

export interface KubeEvent {
  readonly type: string;
  readonly reason: string;
  readonly note: string;
  readonly regarding: { readonly kind: string; readonly name: string };
}

/** events.k8s.io Events about one VirtualIP, oldest first. */
export async function vipEvents(namespace: string, name: string): Promise<KubeEvent[]> {
  const list = await getJson<{ items: (KubeEvent & { eventTime?: string; metadata: { creationTimestamp: string } })[] }>(
    ['events.events.k8s.io', '-n', namespace],
  );
  return list.items
    .filter((e) => e.regarding.kind === 'VirtualIP' && e.regarding.name === name)
    .sort((a, b) => (a.metadata.creationTimestamp < b.metadata.creationTimestamp ? -1 : 1));
}

/** The VirtualIP exactly as `kubectl get -o json` prints it. */
export function vipJson(namespace: string, name: string): Promise<Record<string, unknown>> {
  return getJson<Record<string, unknown>>(['virtualip', name, '-n', namespace]);
}

const GITOPS_DOC = resolve(REPO_ROOT, 'docs/gitops.md');
const HARNESS = resolve(import.meta.dirname, 'argocd-health.lua');

/** The Argo CD health check as published: the one ```lua block in docs/gitops.md. */
export function argoHealthSnippet(): string {
  const blocks = [...readFileSync(GITOPS_DOC, 'utf8').matchAll(/```lua\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
  if (blocks.length !== 1) throw new Error(`TENANCY_DOC: docs/gitops.md must hold exactly one \`\`\`lua block, found ${blocks.length}`);
  return blocks[0] ?? '';
}

export interface ArgoHealth {
  readonly status: string;
  readonly message: string;
}

/** Runs the documented Argo CD health check under Lua 5.1 (as Argo CD does) on an object. */
export async function argoHealth(object: unknown): Promise<ArgoHealth> {
  const script = join(tmpdir(), `${uniqueName('argocd-health')}.lua`);
  writeFileSync(script, argoHealthSnippet());
  const { code, stdout, stderr } = await runLua(script, JSON.stringify(object)).finally(() => rmSync(script, { force: true }));
  if (code !== 0) throw new Error(`TENANCY_LUA: the health check failed (exit ${code}): ${stderr.trim()}`);
  const parsed = JSON.parse(stdout) as { status?: unknown; message?: unknown };
  return { status: String(parsed.status), message: typeof parsed.message === 'string' ? parsed.message : '' };
}

function runLua(script: string, input: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise<{ code: number; stdout: string; stderr: string }>((done, fail) => {
    const child = spawn('lua5.1', [HARNESS, script], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
    child.on('error', (e) => fail(new Error(`TENANCY_LUA: cannot run lua5.1 (${e.message}). Fix: scripts/setup.sh installs lua5.1 and lua-cjson`)));
    child.on('close', (c) => done({ code: c ?? 1, stdout: out, stderr: err }));
    child.stdin.end(input);
  });
}

/**
 * How long a condition may take to appear. Generous on purpose: the cluster is
 * shared, and the controller process reconciles every VirtualIP in it (a
 * benchmark's 1,000 VIPs x 10,000 Backends queue ahead of ours at start-up).
 */
export const SETTLE_MS = 90_000;
