// Where the agent pins its BPF objects under --bpffs, and the rules that make
// the directory safe to adopt: the settings map is pinned LAST on first start,
// so "settings pin present" means "a complete, attached set"; leftovers without
// it come from a start that died half way and were never used for traffic.

import { existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { SterletError } from '../../common/errors.ts';
import { unpin, type BpfProgram } from '../../libbpf/libbpf.ts';
import { filesystemType } from '../../libbpf/libc.ts';
import { BalancerMap, DecapMap } from './layout.ts';
import type { BalancerMapName } from './loader.ts';

export type PinnedBalancerMap = Exclude<BalancerMapName, 'rodata'>;

/** Every balancer map the agent pins; settings last (it is the completion marker). */
export const BALANCER_PINNED_MAPS: readonly PinnedBalancerMap[] = [
  'vips',
  'reals',
  'ring',
  'connTables',
  'fallbackLru',
  'quicReals',
  'vipBuckets',
  'stats',
  'settings',
];

export const DECAP_PINNED_MAPS: readonly (keyof typeof DecapMap)[] = ['addrs', 'stats', 'settings'];

export const DEFAULT_BPFFS = '/sys/fs/bpf/sterlet';
export const DEFAULT_DECAP_BPFFS = '/sys/fs/bpf/sterlet-decap';

export interface BalancerPins {
  readonly dir: string;
  map(name: PinnedBalancerMap): string;
  readonly program: string;
  /** Present = a complete pinned set. */
  readonly marker: string;
}

export function balancerPins(dir: string): BalancerPins {
  return {
    dir,
    map: (name) => join(dir, BalancerMap[name]),
    program: join(dir, 'balancer_prog'),
    marker: join(dir, BalancerMap.settings),
  };
}

export interface DecapPins {
  readonly dir: string;
  map(name: keyof typeof DecapMap): string;
  readonly program: string;
  readonly marker: string;
}

export function decapPins(dir: string): DecapPins {
  return {
    dir,
    map: (name) => join(dir, DecapMap[name]),
    program: join(dir, 'decap_prog'),
    marker: join(dir, DecapMap.settings),
  };
}

const BPF_FS_MAGIC = 0xcafe4a11;
const KNOWN_FS: Readonly<Record<number, string>> = {
  0x62656572: 'sysfs (bpffs is not mounted there; `ip netns exec` also remounts /sys without it)',
  0x01021994: 'tmpfs',
  0x794c7630: 'overlayfs (a container root filesystem: the bpffs hostPath is not mounted)',
  0xef53: 'ext2/3/4',
  0x58465342: 'xfs',
  0x9123683e: 'btrfs',
  0x9fa0: 'procfs',
};

/** The path itself when it exists, else its nearest existing ancestor. */
function nearestExisting(path: string): string {
  let p = resolve(path);
  while (!existsSync(p) && dirname(p) !== p) p = dirname(p);
  return p;
}

/**
 * Fails fast unless `dir` (or, when it does not exist yet, its nearest
 * existing ancestor) is on a bpffs. Pinning anywhere else fails, and Node's
 * recursive mkdir spins forever on a sysfs /sys/fs/bpf (mkdir child ENOENT,
 * mkdir parent EEXIST, again), so this runs before anything is created.
 */
export function checkBpffs(dir: string): void {
  const at = nearestExisting(dir);
  const magic = filesystemType(at);
  if (magic === BPF_FS_MAGIC) return;
  const found = KNOWN_FS[magic] ?? `filesystem magic 0x${magic.toString(16)}`;
  throw new SterletError('BPFFS_NOT_MOUNTED', `${dir} is not on a bpffs: ${at} is ${found}`, {
    why: 'BPF maps and programs can only be pinned on a bpf filesystem',
    fix: 'mount it (mount -t bpf bpf /sys/fs/bpf), or in a pod mount the host\'s /sys/fs/bpf as a hostPath volume (the chart does), or pass --bpffs a directory on a mounted bpffs',
    details: { bpffs: dir, checked: at, magic },
  });
}

/** Creates the pin directory (and missing parents) on a bpffs, one level at a time. */
export function ensureDir(dir: string): void {
  checkBpffs(dir);
  const missing: string[] = [];
  for (let p = resolve(dir); !existsSync(p); p = dirname(p)) missing.unshift(p);
  for (const p of missing) {
    try {
      mkdirSync(p);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue; // another process made it first
      throw new SterletError('BPFFS_MKDIR_FAILED', `cannot create the pin directory ${p}`, {
        why: (err as Error).message,
        fix: 'check that the bpffs is mounted read-write and that this process may write to it (root or CAP_SYS_ADMIN)',
        cause: err,
      });
    }
  }
}

export function isComplete(pins: { marker: string }): boolean {
  return existsSync(pins.marker);
}

/** Replaces a program pin without a moment where the path is missing. */
export function repinProgram(program: BpfProgram, path: string): void {
  const next = `${path}_new`; // bpffs reserves names with dots
  unpin(next);
  program.pin(next);
  renameSync(next, path);
}

/** Removes every pin in the directory (and the directory unless it is a mount point or not ours). */
export function removePins(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    rmSync(path, { recursive: true, force: true });
    removed.push(path);
  }
  try {
    rmdirSync(dir);
  } catch {
    // A mount point (or a directory an operator made) stays; it is empty now.
  }
  return removed;
}
