// --bpffs on something that is not a bpffs: under `ip netns exec` (which
// remounts /sys) or on a host without the mount, /sys/fs/bpf is a plain
// sysfs directory, where Node's recursive mkdir used to spin forever at 100%
// CPU without a log line. Every command that uses the pin directory must
// fail within seconds with BPFFS_NOT_MOUNTED and the mount command.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkBpffs, ensureDir } from '../../src/agent/dataplane/pin-layout.ts';
import { SterletError } from '../../src/common/errors.ts';
import { uniqueRunId } from '../support/e2e/names.ts';

const NODE = 'node_modules/.bin/node';
const CLI = 'src/cli/sterlet.ts';
const id = uniqueRunId();
const ns = `${id}-bpffs`;
let scratch = '';

function codeOf(fn: () => void): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof SterletError ? err.code : `not a SterletError: ${String(err)}`;
  }
  return undefined;
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'sterlet-bpffs-'));
  writeFileSync(
    join(scratch, 'web.yaml'),
    [
      'apiVersion: sterlet.dev/v1alpha1\nkind: VirtualIP\nmetadata: {name: web, namespace: default}\nspec: {address: 10.200.0.10, port: 80, protocol: TCP, backendSelector: {matchLabels: {app: web}}}',
      'apiVersion: sterlet.dev/v1alpha1\nkind: Backend\nmetadata: {name: web-1, namespace: default, labels: {app: web}}\nspec: {address: 10.0.1.11}',
    ].join('\n---\n'),
  );
  execFileSync('ip', ['netns', 'add', ns]);
});

afterAll(() => {
  spawnSync('ip', ['netns', 'del', ns]);
  rmSync(scratch, { recursive: true, force: true });
});

describe('bpffs check', () => {
  it('refuses a directory that is not on a bpffs and creates nothing there', () => {
    const dir = join(scratch, 'pins', 'sterlet');
    expect(codeOf(() => ensureDir(dir))).toBe('BPFFS_NOT_MOUNTED');
    expect(existsSync(join(scratch, 'pins'))).toBe(false);
    expect(() => checkBpffs(dir)).toThrow(new RegExp(`${scratch} is (tmpfs|ext2/3/4|overlayfs|xfs|btrfs|filesystem magic)`));
  });

  it('creates missing levels one at a time on a mounted bpffs', () => {
    const top = `/sys/fs/bpf/${id}`;
    try {
      ensureDir(join(top, 'a', 'b'));
      expect(existsSync(join(top, 'a', 'b'))).toBe(true);
      ensureDir(join(top, 'a', 'b')); // idempotent
    } finally {
      if (existsSync(join(top, 'a', 'b'))) rmdirSync(join(top, 'a', 'b'));
      if (existsSync(join(top, 'a'))) rmdirSync(join(top, 'a'));
      if (existsSync(top)) rmdirSync(top);
    }
  });

  const commands: Record<string, string[]> = {
    agent: ['agent', '--interface', 'lo', '--manifests', 'SCRATCH/web.yaml', '--gateway-mac', '02:00:00:00:00:01', '--metrics-addr', '127.0.0.1:0', '--bpffs', `/sys/fs/bpf/${id}`],
    decap: ['decap', '--interface', 'lo', '--local-address', '127.0.0.1', '--bpffs', `/sys/fs/bpf/${id}-decap`],
    stats: ['stats', '--bpffs', `/sys/fs/bpf/${id}`],
    plan: ['plan', '--manifests', 'SCRATCH/web.yaml', '--bpffs', `/sys/fs/bpf/${id}`],
  };
  for (const [name, args] of Object.entries(commands)) {
    it(`sterlet ${name} under ip netns exec (sysfs at /sys/fs/bpf) exits 1 at once with BPFFS_NOT_MOUNTED and the fix`, () => {
      const argv = args.map((a) => a.replace('SCRATCH', scratch));
      const started = Date.now();
      const r = spawnSync('ip', ['netns', 'exec', ns, NODE, CLI, ...argv], { encoding: 'utf8', timeout: 20_000 });
      const out = `${r.stdout}\n${r.stderr}`;
      expect(r.signal, `still running after 20 s:\n${out}`).toBeNull();
      expect(r.status, out).toBe(1);
      expect(out).toContain('BPFFS_NOT_MOUNTED');
      expect(out).toContain(`/sys/fs/bpf is sysfs`);
      expect(out).toContain('mount -t bpf bpf /sys/fs/bpf');
      expect(Date.now() - started).toBeLessThan(10_000); // node start-up included
    });
  }
});
