// The standalone source: `--manifests PATH` (a YAML file or a directory of
// them). Re-reads on file changes (non-recursive fs.watch on the directory and
// each subdirectory, re-armed on every change, so editors and ConfigMap volumes
// that replace files by rename are seen), on SIGHUP and every `resyncMs` (a
// missed watch event is caught by the next poll: level-based, never edge-only).

import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Labels } from '../../api/meta.ts';
import { watchDirectories, type DirWatch } from './dir-watch.ts';
import { loadManifests } from './manifests.ts';
import type { DesiredStateSource, SourceEvent } from './types.ts';

export interface FileSourceOptions {
  /** Quiet period after the last change before re-reading. Default 200 ms. */
  readonly debounceMs?: number;
  /** Re-read at this interval even without events; 0 = never. Default 30 s. */
  readonly resyncMs?: number;
  /** Listen to SIGHUP. Default true. */
  readonly sighup?: boolean;
  /** Keep only VIPs whose nodeSelector matches this node. */
  readonly node?: { name: string; labels: Labels };
}

export function fileSource(path: string, options: FileSourceOptions = {}): DesiredStateSource {
  return {
    name: `file:${path}`,
    events: (signal) => watchManifests(path, options, signal),
  };
}

async function* watchManifests(path: string, options: FileSourceOptions, signal: AbortSignal): AsyncGenerator<SourceEvent> {
  const debounceMs = options.debounceMs ?? 200;
  const resyncMs = options.resyncMs ?? 30_000;
  let wake: (() => void) | undefined;
  let pending = true; // the initial read
  let timer: NodeJS.Timeout | undefined;
  const trigger = (delay: number): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      pending = true;
      wake?.();
    }, delay);
  };
  const onChange = (): void => trigger(debounceMs);
  const onHup = (): void => trigger(0);
  const onAbort = (): void => wake?.();

  let watcher: DirWatch | undefined;
  try {
    const isDir = (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
    // Watch the directory, never the file: editors replace files by rename and
    // Kubernetes ConfigMap volumes swap a `..data` symlink, both of which a
    // watch on the file itself misses. Any event re-reads (debounced); a
    // missing path is reported by the first read and watched once it exists.
    watcher = watchDirectories(isDir ? path : dirname(path), { subdirectories: isDir, onChange });
    if (options.sighup ?? true) process.on('SIGHUP', onHup);
    signal.addEventListener('abort', onAbort);
    const poll = resyncMs > 0 ? setInterval(() => trigger(0), resyncMs) : undefined;
    try {
      while (!signal.aborted) {
        if (!pending) {
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
          continue;
        }
        pending = false;
        // Before reading, so a change made while reading is not lost.
        await watcher.rearm();
        const load = await loadManifests(path, options.node === undefined ? {} : { node: options.node });
        if (signal.aborted) return;
        yield load.ok
          ? { kind: 'state', vips: load.vips, origin: path }
          : { kind: 'invalid', origin: path, problems: load.problems };
      }
    } finally {
      clearInterval(poll);
    }
  } finally {
    clearTimeout(timer);
    watcher?.close();
    process.off('SIGHUP', onHup);
    signal.removeEventListener('abort', onAbort);
  }
}
