// The kernel's tick rate (CONFIG_HZ), from the kernel's own config: the
// balancer derives its connection-table clock from jiffies (one inlined load)
// instead of a helper call, and needs the nanoseconds per jiffy for that
// (bpf/include/clock.h). Roots are parameters so tests can use fake trees.

import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface KernelHzOptions {
  /** Defaults to /proc (its config.gz exists with CONFIG_IKCONFIG_PROC). */
  readonly procfsRoot?: string;
  /** Defaults to /boot (config-RELEASE, as distributions install it). */
  readonly bootDir?: string;
  /** Defaults to the running kernel's release (uname -r). */
  readonly release?: string;
}

/** CONFIG_HZ of the running kernel, or undefined when no config of it is readable. */
export function readKernelHz(options: KernelHzOptions = {}): number | undefined {
  const sources: [string, (b: Buffer) => Buffer][] = [
    [join(options.procfsRoot ?? '/proc', 'config.gz'), gunzipSync],
    [join(options.bootDir ?? '/boot', `config-${options.release ?? release()}`), (b) => b],
  ];
  for (const [path, decode] of sources) {
    let text: string;
    try {
      text = decode(readFileSync(path)).toString('utf8');
    } catch {
      continue; // absent or unreadable: try the next source
    }
    const hz = Number(/^CONFIG_HZ=(\d+)$/m.exec(text)?.[1]);
    if (hz > 0) return hz;
  }
  return undefined;
}

/** The kernel's TICK_NSEC for a tick rate: nanoseconds jiffies advance by per tick (rounded like the kernel). */
export function tickNsForHz(hz: number): number {
  return Math.floor((1e9 + Math.floor(hz / 2)) / hz);
}

let cachedHostTickNs: number | undefined;

/** TICK_NSEC of this host, 0 when CONFIG_HZ is unknown (the balancer then reads the clock with a helper). */
export function hostTickNs(): number {
  if (cachedHostTickNs === undefined) {
    const hz = readKernelHz();
    cachedHostTickNs = hz === undefined ? 0 : tickNsForHz(hz);
  }
  return cachedHostTickNs;
}
