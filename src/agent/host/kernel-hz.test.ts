import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { readKernelHz, tickNsForHz } from './kernel-hz.ts';

describe('readKernelHz on fake /proc and /boot trees', () => {
  let root: string | undefined;
  afterEach(() => {
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
    root = undefined;
  });
  function tree(files: { procGz?: string; boot?: string }): { procfsRoot: string; bootDir: string; release: string } {
    root = mkdtempSync(join(tmpdir(), 'sterlet-hz-'));
    const procfsRoot = join(root, 'proc');
    const bootDir = join(root, 'boot');
    mkdirSync(procfsRoot);
    mkdirSync(bootDir);
    if (files.procGz !== undefined) writeFileSync(join(procfsRoot, 'config.gz'), gzipSync(files.procGz));
    if (files.boot !== undefined) writeFileSync(join(bootDir, 'config-6.1.0-test'), files.boot);
    return { procfsRoot, bootDir, release: '6.1.0-test' };
  }
  const config = (hz: string): string => `CONFIG_NO_HZ_IDLE=y\n# CONFIG_HZ_100 is not set\nCONFIG_HZ_${hz}=y\nCONFIG_HZ=${hz}\nCONFIG_HZ_PERIODIC_x=1\n`;

  it('reads CONFIG_HZ from /proc/config.gz first, then /boot/config-RELEASE', () => {
    expect(readKernelHz(tree({ procGz: config('300'), boot: config('1000') }))).toBe(300);
    rmSync(root!, { recursive: true });
    expect(readKernelHz(tree({ boot: config('1000') }))).toBe(1000);
  });

  it('is undefined when no config names a tick rate', () => {
    expect(readKernelHz(tree({}))).toBeUndefined();
    rmSync(root!, { recursive: true });
    expect(readKernelHz(tree({ procGz: 'CONFIG_HZ_250=y\n', boot: 'CONFIG_HZ=0\n' }))).toBeUndefined();
    rmSync(root!, { recursive: true });
    // A corrupt config.gz is skipped, not fatal.
    const t = tree({ boot: config('250') });
    writeFileSync(join(t.procfsRoot, 'config.gz'), 'not gzip');
    expect(readKernelHz(t)).toBe(250);
  });
});

describe('tickNsForHz', () => {
  it('is the kernel TICK_NSEC, rounded as the kernel rounds it', () => {
    expect(tickNsForHz(100)).toBe(10_000_000);
    expect(tickNsForHz(250)).toBe(4_000_000);
    expect(tickNsForHz(300)).toBe(3_333_333);
    expect(tickNsForHz(1000)).toBe(1_000_000);
    expect(tickNsForHz(1024)).toBe(976_563);
  });
});
