// Where the agent leaves its health view for `sterlet stats`: a JSON file
// under /run/sterlet named after the --bpffs directory (so stats with the
// same --bpffs finds it), replaced atomically on every write.

import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { HealthSnapshot } from './prober.ts';

export const HEALTH_RUN_DIR = '/run/sterlet';

export function healthFilePath(bpffs: string): string {
  const name = resolve(bpffs).replace(/^\/+/, '').replaceAll('/', '-') || 'root';
  return join(HEALTH_RUN_DIR, `${name}.health.json`);
}

export interface HealthFile extends HealthSnapshot {
  readonly writtenAt: string;
  readonly pid: number;
}

export function writeHealthFile(path: string, snapshot: HealthSnapshot): void {
  mkdirSync(dirname(path), { recursive: true });
  const body: HealthFile = { writtenAt: new Date().toISOString(), pid: process.pid, ...snapshot };
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(body)}\n`);
  renameSync(tmp, path);
}

/** The last snapshot an agent wrote, or undefined when there is none. */
export function readHealthFile(path: string): HealthFile | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as HealthFile;
  } catch {
    return undefined;
  }
}
