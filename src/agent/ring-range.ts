// Reads a contiguous range of an ARRAY map with BPF_MAP_LOOKUP_BATCH. The
// adapter's lookupBatch() reads a whole map; the ring map holds
// max_vips * ring_size slots (33.5M at 512 x 65537), so reading one VIP's ring
// must start in the middle: for arrays the batch token is the previous key.
// (Candidate for src/agent/bpf/map.ts as BpfMap.lookupRange.)

import { SterletError } from '../common/errors.ts';
import { BpfError, type BpfMap } from './bpf/libbpf.ts';
import { errnoFrom } from './bpf/call.ts';
import { c, MapBatchOpts, sizeOf } from './bpf/ffi.ts';

const ENOENT = 2;

/** Values of keys start..start+count-1 of an ARRAY map with 4-byte keys, concatenated. */
export function readArrayRange(map: BpfMap, start: number, count: number): Buffer {
  if (map.keySize !== 4 || start < 0 || start + count > map.maxEntries) {
    throw new SterletError('AGENT_RANGE_READ', `cannot read entries ${start}..${start + count - 1} of map ${map.name}`, {
      why: `it has ${map.maxEntries} entries and ${map.keySize}-byte keys`,
      fix: 'read within the map (this is a bug in the caller)',
    });
  }
  const values = Buffer.alloc(count * map.userValueSize);
  const keys = Buffer.alloc(count * 4);
  let done = 0;
  let prev: Buffer | null = start === 0 ? null : u32(start - 1);
  while (done < count) {
    const out = Buffer.alloc(8);
    const n = [count - done];
    const opts = { sz: sizeOf(MapBatchOpts), elem_flags: 0, flags: 0 };
    const ret = c.mapLookupBatch(
      map.fd,
      prev,
      out,
      keys.subarray(done * 4),
      values.subarray(done * map.userValueSize),
      n,
      opts,
    ) as number;
    const got = n[0] ?? 0;
    if (ret < 0 && errnoFrom(ret) !== ENOENT) throw new BpfError('bpf_map_lookup_batch', errnoFrom(ret), { name: map.name });
    if (got === 0) break;
    done += got;
    prev = out.subarray(0, 4);
  }
  if (done !== count) {
    throw new SterletError('AGENT_RANGE_READ', `read ${done} of ${count} entries of map ${map.name} from ${start}`, {
      fix: 'retry; the map may have been replaced while reading',
    });
  }
  return values;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}
