import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fileSource } from './file.ts';
import type { SourceEvent } from './types.ts';

const manifest = (weight: number, port = 80): string => `
apiVersion: sterlet.dev/v1alpha1
kind: VirtualIP
metadata: {name: web, namespace: default}
spec:
  address: 10.200.0.10
  port: ${port}
  protocol: TCP
  backendSelector: {matchLabels: {app: web}}
---
apiVersion: sterlet.dev/v1alpha1
kind: Backend
metadata: {name: web-1, namespace: default, labels: {app: web}}
spec: {address: 10.0.1.11, weight: ${weight}}
---
apiVersion: sterlet.dev/v1alpha1
kind: Backend
metadata: {name: web-2, namespace: default, labels: {app: web}}
spec: {address: 10.0.1.12}
`;

let dir: string;
let controller: AbortController;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sterlet-file-source-'));
  controller = new AbortController();
});
afterEach(async () => {
  controller.abort();
  await rm(dir, { recursive: true, force: true });
});

async function next(it: AsyncIterator<SourceEvent>): Promise<SourceEvent> {
  const r = await Promise.race([
    it.next(),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no event within 5 s')), 5000)),
  ]);
  if (r.done === true) throw new Error('source ended');
  return r.value;
}

describe('fileSource', () => {
  it('yields the compiled state, then a new one when a file changes', async () => {
    await writeFile(join(dir, 'web.yaml'), manifest(1));
    const events = fileSource(dir, { debounceMs: 20, sighup: false }).events(controller.signal)[Symbol.asyncIterator]();
    const first = await next(events);
    expect(first.kind).toBe('state');
    if (first.kind !== 'state') return;
    expect(first.vips).toHaveLength(1);
    expect(first.vips[0]).toMatchObject({ id: 'default/web', key: { address: '10.200.0.10', port: 80, protocol: 'TCP' } });
    expect(first.vips[0]?.flags).toEqual({ hash: 'FiveTuple', connectionTracking: true, quic: false, encapsulation: 'IPIP' });
    expect(first.vips[0]?.backends.map((b) => [b.address, b.weight])).toEqual([
      ['10.0.1.11', 1],
      ['10.0.1.12', 1],
    ]);
    await writeFile(join(dir, 'web.yaml'), manifest(3));
    const second = await next(events);
    expect(second.kind === 'state' && second.vips[0]?.backends[0]?.weight).toBe(3);
  });

  it('reports an invalid change with file, document, object and field', async () => {
    const file = join(dir, 'web.yaml');
    await writeFile(file, manifest(1));
    const events = fileSource(file, { debounceMs: 20, sighup: false }).events(controller.signal)[Symbol.asyncIterator]();
    expect((await next(events)).kind).toBe('state');
    await writeFile(file, manifest(1, 70000));
    const bad = await next(events);
    expect(bad.kind).toBe('invalid');
    if (bad.kind !== 'invalid') return;
    expect(bad.problems[0]?.code).toBe('MANIFEST_INVALID');
    expect(bad.problems[0]?.where).toContain(file);
    expect(bad.problems[0]?.where).toContain('document 1');
    expect(bad.problems[0]?.where).toContain('VirtualIP web');
    expect(bad.problems[0]?.where).toContain('spec.port');
  });

  it('rejects the whole state when compile finds a problem', async () => {
    await writeFile(join(dir, 'web.yaml'), manifest(1).replace('protocol: TCP', 'protocol: TCP\n  quic: true'));
    const events = fileSource(dir, { sighup: false }).events(controller.signal)[Symbol.asyncIterator]();
    const bad = await next(events);
    expect(bad.kind === 'invalid' && bad.problems.map((p) => p.code)).toEqual(['QUIC_REQUIRES_UDP']);
    expect(bad.kind === 'invalid' && bad.problems[0]?.where).toBe('VirtualIP default/web, spec.quic');
  });

  it('sees a file replaced by rename, and a ConfigMap-style ..data symlink swap', async () => {
    // ConfigMap volume layout: web.yaml -> ..data/web.yaml, ..data -> ..2026_a (swapped atomically).
    await mkdir(join(dir, '..2026_a'));
    await writeFile(join(dir, '..2026_a', 'web.yaml'), manifest(1));
    await symlink('..2026_a', join(dir, '..data'));
    await symlink(join('..data', 'web.yaml'), join(dir, 'web.yaml'));
    const file = join(dir, 'web.yaml');
    const events = fileSource(file, { debounceMs: 20, sighup: false, resyncMs: 0 }).events(controller.signal)[Symbol.asyncIterator]();
    expect((await next(events)).kind).toBe('state');
    await mkdir(join(dir, '..2026_b'));
    await writeFile(join(dir, '..2026_b', 'web.yaml'), manifest(4));
    await symlink('..2026_b', join(dir, '..data_tmp'));
    await rename(join(dir, '..data_tmp'), join(dir, '..data'));
    const swapped = await next(events);
    expect(swapped.kind === 'state' && swapped.vips[0]?.backends[0]?.weight).toBe(4);

    // An editor's save: write a temp file, rename it over the original.
    const plain = join(dir, 'plain');
    await mkdir(plain);
    await writeFile(join(plain, 'web.yaml'), manifest(1));
    const inDir = fileSource(plain, { debounceMs: 20, sighup: false, resyncMs: 0 }).events(controller.signal)[Symbol.asyncIterator]();
    expect((await next(inDir)).kind).toBe('state');
    await writeFile(join(plain, '.web.yaml.swp'), manifest(6));
    await rename(join(plain, '.web.yaml.swp'), join(plain, 'web.yaml'));
    const renamed = await next(inDir);
    expect(renamed.kind === 'state' && renamed.vips[0]?.backends[0]?.weight).toBe(6);
  });

  it('sees every rename over a file in a watched directory tree, including a subdirectory made later (no poll)', { timeout: 30_000 }, async () => {
    const watched = join(dir, 'manifests');
    const staging = join(dir, 'staging'); // outside the watched tree, like an editor's or kubelet's temp files
    await mkdir(watched);
    await mkdir(staging);
    await writeFile(join(watched, 'web.yaml'), manifest(1));
    const events = fileSource(watched, { debounceMs: 20, sighup: false, resyncMs: 0 }).events(controller.signal)[Symbol.asyncIterator]();
    expect((await next(events)).kind).toBe('state');
    const replace = async (target: string, weight: number): Promise<void> => {
      await writeFile(join(staging, `web-${weight}.yaml`), manifest(weight));
      await rename(join(staging, `web-${weight}.yaml`), target);
      const got = await next(events);
      expect(got.kind === 'state' && got.vips[0]?.backends[0]?.weight).toBe(weight);
    };
    // Node 24's recursive fs.watch on Linux reported the first of these and then nothing.
    for (const weight of [2, 3, 4]) await replace(join(watched, 'web.yaml'), weight);
    // A subdirectory created while running is watched too.
    await mkdir(join(watched, 'sub'));
    await rename(join(watched, 'web.yaml'), join(watched, 'sub', 'web.yaml'));
    const moved = await next(events);
    expect(moved.kind === 'state' && moved.vips[0]?.backends[0]?.weight).toBe(4);
    for (const weight of [5, 6]) await replace(join(watched, 'sub', 'web.yaml'), weight);
  });

  it('with one file, ignores events for other files in its directory (an agent logging next to it)', async () => {
    const file = join(dir, 'web.yaml');
    await writeFile(file, manifest(1));
    const events = fileSource(file, { debounceMs: 20, sighup: false, resyncMs: 0 }).events(controller.signal)[Symbol.asyncIterator]();
    expect((await next(events)).kind).toBe('state');
    const pending = next(events);
    for (let i = 0; i < 10; i++) {
      await writeFile(join(dir, 'agent.log'), `{"msg":"applied","i":${String(i)}}\n`, { flag: 'a' });
      await new Promise((r) => setTimeout(r, 30));
    }
    const early = await Promise.race([pending.then(() => 'event'), new Promise((r) => setTimeout(() => r('quiet'), 300))]);
    expect(early).toBe('quiet');
    await writeFile(file, manifest(2));
    const changed = await pending;
    expect(changed.kind === 'state' && changed.vips[0]?.backends[0]?.weight).toBe(2);
  });

  it('yields nothing for a re-read that finds the same content (poll, rewrite with the same bytes); SIGHUP still re-applies', async () => {
    await writeFile(join(dir, 'web.yaml'), manifest(1));
    const events = fileSource(dir, { debounceMs: 20, resyncMs: 50 }).events(controller.signal)[Symbol.asyncIterator]();
    expect((await next(events)).kind).toBe('state');
    const pending = next(events);
    await writeFile(join(dir, 'web.yaml'), manifest(1));
    const early = await Promise.race([pending.then(() => 'event'), new Promise((r) => setTimeout(() => r('quiet'), 400))]);
    expect(early).toBe('quiet'); // ~8 polls and one write event, all the same input
    process.emit('SIGHUP');
    const forced = await pending;
    expect(forced.kind === 'state' && forced.vips[0]?.backends[0]?.weight).toBe(1);
  });

  it('re-reads on SIGHUP', async () => {
    await writeFile(join(dir, 'web.yaml'), manifest(1));
    const events = fileSource(dir, { debounceMs: 60_000 }).events(controller.signal)[Symbol.asyncIterator]();
    expect((await next(events)).kind).toBe('state');
    await writeFile(join(dir, 'web.yaml'), manifest(5));
    process.emit('SIGHUP');
    const again = await next(events);
    expect(again.kind === 'state' && again.vips[0]?.backends[0]?.weight).toBe(5);
  });
});
