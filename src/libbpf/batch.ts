// BPF_MAP_LOOKUP_BATCH loops behind BpfMap.lookupBatch/entries/lookupRange.

import { getSystemErrorName } from 'node:util';
import { SterletError } from '../common/errors.ts';
import { errnoFrom } from './call.ts';
import { BpfError } from './errors.ts';
import { c, clearWarnings, MapBatchOpts, sizeOf } from './ffi.ts';
import type { BatchResult, BpfMap } from './map.ts';

interface LookupStep {
  readonly keys: Buffer;
  readonly count: number;
  readonly outBatch: Buffer;
  readonly end: boolean;
}

/** Values of array indices start..start+count-1; for arrays the resume token is the previous index. */
export function readRange(map: BpfMap, start: number, count: number): Buffer {
  const values = Buffer.alloc(count * map.userValueSize);
  let done = 0;
  let inBatch: Buffer | null = start === 0 ? null : u32le(start - 1);
  while (done < count) {
    const step = lookupStep(map, inBatch, count - done, values.subarray(done * map.userValueSize));
    done += step.count;
    if (step.end || step.count === 0) break;
    inBatch = step.outBatch;
  }
  if (done !== count) {
    throw new SterletError('BPF_RANGE_SHORT', `read ${done} of ${count} entries of map ${map.name} from index ${start}`, {
      why: 'the kernel ended the batch early',
      fix: 'retry; the map may have been replaced while reading',
    });
  }
  return values;
}

/** The whole map in chunks of up to `chunk` entries (grown when one hash bucket holds more). */
export function* readBatches(map: BpfMap, chunk: number): Generator<BatchResult> {
  let inBatch: Buffer | null = null;
  let size = Math.max(1, Math.min(chunk, map.maxEntries));
  for (;;) {
    const values = Buffer.alloc(size * map.userValueSize);
    let step: LookupStep;
    try {
      step = lookupStep(map, inBatch, size, values);
    } catch (err) {
      // One hash bucket holds more entries than fit: retry this step bigger.
      if (err instanceof BpfError && err.errnoName === 'ENOSPC' && size < map.maxEntries) {
        size = Math.min(size * 2, map.maxEntries);
        continue;
      }
      throw err;
    }
    const got = step.count;
    if (got > 0) yield { keys: step.keys, values: values.subarray(0, got * map.userValueSize), count: got };
    if (step.end) return;
    inBatch = step.outBatch;
  }
}

/** One BPF_MAP_LOOKUP_BATCH call filling `values`; `end` when the map is exhausted. */
function lookupStep(map: BpfMap, inBatch: Buffer | null, size: number, values: Buffer): LookupStep {
  // The resume token is a bucket index (hash) or a key (array).
  const outBatch = Buffer.alloc(Math.max(map.keySize, 8));
  const keys = Buffer.alloc(size * map.keySize);
  const n = [size];
  const opts = { sz: sizeOf(MapBatchOpts), elem_flags: 0, flags: 0 };
  clearWarnings();
  const ret = c.mapLookupBatch(map.fd, inBatch, outBatch, keys, values, n, opts) as number;
  const got = n[0] ?? 0;
  const errno = ret < 0 ? errnoFrom(ret) : 0;
  const end = errno !== 0 && errnoName(errno) === 'ENOENT';
  if (errno !== 0 && !end && !(got > 0 && errnoName(errno) === 'ENOSPC')) {
    throw new BpfError('bpf_map_lookup_batch', errno, { name: map.name });
  }
  return { keys: keys.subarray(0, got * map.keySize), count: got, outBatch, end };
}

function u32le(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function errnoName(errno: number): string {
  return getSystemErrorName(-errno);
}
