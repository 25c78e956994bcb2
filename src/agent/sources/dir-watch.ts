// Non-recursive fs.watch on a directory and (optionally) each of its
// subdirectories. Node 24's recursive watcher on Linux reports the first
// rename over a file and then nothing more, so changes made by rename (editors,
// ConfigMap volume updates) were only seen by the poll. A plain inotify watch
// per directory sees every rename; rearm() adds watchers for directories made
// since, drops those of removed ones and replaces those whose inode changed.

import { watch, type FSWatcher } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

export interface DirWatch {
  /** Re-scan the tree and adjust the watchers; call after every change (and at start). */
  rearm(): Promise<void>;
  close(): void;
}

interface Armed {
  readonly watcher: FSWatcher;
  readonly ino: number;
  failed: boolean;
}

/**
 * Watches `root`, and with `subdirectories` every directory below it except
 * dot entries and symlinks (the ones the manifest reader descends into).
 */
export function watchDirectories(
  root: string,
  options: { subdirectories: boolean; onChange: (dir: string, name: string | null) => void },
): DirWatch {
  const armed = new Map<string, Armed>();
  let closed = false;

  const arm = (dir: string, ino: number): void => {
    try {
      const entry: Armed = { watcher: watch(dir, (_event, name) => options.onChange(dir, name)), ino, failed: false };
      // The directory went away: the next rearm (after the change it causes) replaces it.
      entry.watcher.on('error', () => {
        entry.failed = true;
        options.onChange(dir, null);
      });
      armed.set(dir, entry);
    } catch {
      // Gone between the scan and the watch: the next rearm retries.
    }
  };

  const rearm = async (): Promise<void> => {
    const found = await scan(root, options.subdirectories);
    if (closed) return;
    for (const [dir, entry] of armed) {
      if (found.get(dir) === entry.ino && !entry.failed) continue;
      entry.watcher.close();
      armed.delete(dir);
    }
    for (const [dir, ino] of found) if (!armed.has(dir)) arm(dir, ino);
  };

  return {
    rearm,
    close: () => {
      closed = true;
      for (const entry of armed.values()) entry.watcher.close();
      armed.clear();
    },
  };
}

/** Directory path -> inode for `root` and, when asked, its real subdirectories. */
async function scan(root: string, subdirectories: boolean): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const st = await stat(root).catch(() => undefined);
  if (st?.isDirectory() !== true) return out;
  out.set(root, st.ino);
  if (!subdirectories) return out;
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) {
      if (!e.isDirectory() || e.name.startsWith('.')) continue;
      const full = join(dir, e.name);
      const sub = await stat(full).catch(() => undefined);
      if (sub === undefined) continue;
      out.set(full, sub.ino);
      await walk(full);
    }
  };
  await walk(root);
  return out;
}
