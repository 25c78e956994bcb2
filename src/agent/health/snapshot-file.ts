// Where the agent leaves its health view for `sterlet stats`: a JSON file
// beside the names file (/run/sterlet, named after the --bpffs directory, so
// stats with the same --bpffs finds it), replaced atomically on every write.

import { readFileSync } from 'node:fs';
import { namesFilePath, writeJsonAtomically } from '../dataplane/names-file.ts';
import type { HealthSnapshot } from './prober.ts';

export function healthFilePath(bpffs: string): string {
  return namesFilePath(bpffs).replace(/\.names\.json$/, '.health.json');
}

export interface HealthFile extends HealthSnapshot {
  readonly writtenAt: string;
  readonly pid: number;
}

export function writeHealthFile(path: string, snapshot: HealthSnapshot): void {
  const body: HealthFile = { writtenAt: new Date().toISOString(), pid: process.pid, ...snapshot };
  writeJsonAtomically(path, body);
}

/** The last snapshot an agent wrote, or undefined when there is none. */
export function readHealthFile(path: string): HealthFile | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as HealthFile;
  } catch {
    return undefined;
  }
}
