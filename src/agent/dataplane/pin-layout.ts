// Where the agent pins its BPF objects under --bpffs, and the rules that make
// the directory safe to adopt: the settings map is pinned LAST on first start,
// so "settings pin present" means "a complete, attached set"; leftovers without
// it come from a start that died half way and were never used for traffic.

import { existsSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { unpin, type BpfProgram } from '../../libbpf/libbpf.ts';
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

export function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
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
