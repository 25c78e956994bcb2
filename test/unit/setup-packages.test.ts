// scripts/setup.sh installs the Debian packages behind every tool the
// Makefile and the scripts call on a fresh Debian 12 (gcc for
// `gcc -dumpmachine`, npm for `npm ci`, golang-go to fetch Go 1.26, ...).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const text = readFileSync(resolve(import.meta.dirname, '../../scripts/setup.sh'), 'utf8');
const list = /packages=\(([^)]*)\)/.exec(text)?.[1] ?? '';
const packages = new Set(list.split(/\s+/).filter((p) => p !== ''));

// tool -> the Debian 12 package that provides it
const NEEDED: Record<string, string> = {
  'gcc (Makefile: gcc -dumpmachine; libbpf build)': 'gcc',
  'C library headers (libbpf build)': 'libc6-dev',
  'clang (BPF objects)': 'clang',
  'npm (npm ci brings Node 24)': 'npm',
  'go (fetches the pinned Go 1.26 toolchain)': 'golang-go',
  'openssl (cluster.sh service-account key)': 'openssl',
  'python3 (a test binds a port without listening)': 'python3',
  'flock, setsid (cluster.sh, testbin.sh)': 'util-linux',
  'ss, ip (cluster.sh, discovery)': 'iproute2',
  'lua5.1 (Argo CD health check test)': 'lua5.1',
};

describe('setup.sh', () => {
  for (const [tool, pkg] of Object.entries(NEEDED)) {
    it(`installs ${pkg} for ${tool}`, () => expect(packages.has(pkg)).toBe(true));
  }
});
