// The standalone source: `--manifests PATH` (a YAML file or a directory of
// them). Re-reads on file changes (non-recursive fs.watch on the directory and
// each subdirectory, re-armed on every change, so editors and ConfigMap volumes
// that replace files by rename are seen), on SIGHUP and every `resyncMs` (a
// missed watch event is caught by the next poll: level-based, never edge-only).
// A re-read that finds byte-for-byte the same input yields nothing (SIGHUP
// excepted): the poll and unrelated events are not new desired states.

import { readlink, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute } from 'node:path';
import type { Labels } from '../../api/meta.ts';
import { watchDirectories, type DirWatch } from './dir-watch.ts';
import { offThreadLoader, type LoadResult, type PrefetchedLoad } from './off-thread.ts';
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
  /** The first read, started early (off-thread.ts prefetchManifests, same path, no node filter). */
  readonly prefetched?: PrefetchedLoad | undefined;
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
  // A single file: only events for its own name count, or for the first
  // component of its relative symlink target (a ConfigMap's `..data`): an
  // agent logging into the same directory must not re-read on every line.
  let fileNames: ReadonlySet<string> | undefined;
  const onChange = (_dir: string, name: string | null): void => {
    if (fileNames === undefined || name === null || fileNames.has(name)) trigger(debounceMs);
  };
  let force = false;
  const onHup = (): void => {
    force = true;
    trigger(0);
  };
  const onAbort = (): void => wake?.();

  let watcher: DirWatch | undefined;
  const prefetched = options.prefetched?.path === path && options.node === undefined ? options.prefetched : undefined;
  const loader = prefetched?.loader ?? offThreadLoader();
  loader.hold();
  let first: Promise<LoadResult> | undefined = prefetched?.first;
  try {
    const isDir = (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
    // Watch the directory, never the file: editors replace files by rename and
    // Kubernetes ConfigMap volumes swap a `..data` symlink, both of which a
    // watch on the file itself misses. Any event re-reads (debounced); a
    // missing path is reported by the first read and watched once it exists.
    watcher = watchDirectories(isDir ? path : dirname(path), { subdirectories: isDir, onChange });
    let lastDigest: string | undefined;
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
        if (!isDir) fileNames = await namesOf(path);
        // Parsing and validating run on a worker thread: the event loop (and /healthz) stays responsive.
        let result: LoadResult;
        if (first === undefined) {
          result = await loader.load(path, { node: options.node, unlessDigest: force ? undefined : lastDigest });
        } else {
          result = await first;
          first = undefined;
          // That read began before the watch was armed: read again (the digest alone when nothing changed).
          pending = true;
        }
        if (signal.aborted) return;
        lastDigest = result.digest;
        const { load } = result;
        if (load === undefined) continue; // the same bytes as last time
        force = false;
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
    await loader.close();
    process.off('SIGHUP', onHup);
    signal.removeEventListener('abort', onAbort);
  }
}

/** The directory entries whose change can change the file at `path`. */
async function namesOf(path: string): Promise<ReadonlySet<string>> {
  const names = new Set([basename(path)]);
  const target = await readlink(path).catch(() => undefined);
  if (target !== undefined && !isAbsolute(target)) {
    const first = target.split('/')[0];
    if (first !== undefined && first !== '' && first !== '..' && first !== '.') names.add(first);
  }
  return names;
}
