// vip_buckets: the `vips` hash map again as a direct-mapped ARRAY (struct
// vip_bucket), so the program finds a VIP with one inlined array read and a
// key compare instead of a hash-table call (bpf/balancer.bpf.c, vip_find).
// The program trusts an empty bucket, or one holding another key, to mean
// "not a VIP": the buckets must never claim less than `vips` holds when a VIP
// is added, nor more when one goes. So they are rebuilt whole from `vips`
// after every write to it, and before a delete without the keys about to go.
// A bucket that several keys share says so and the program asks `vips`.

import type { BpfMap } from '../../libbpf/libbpf.ts';
import { u32 } from './codec.ts';
import { Size, VIP_BUCKET_BITS, VipBucketState } from './layout.ts';

const BUCKETS = 1 << VIP_BUCKET_BITS;
const rotl = (x: number, r: number): number => ((x << r) | (x >>> (32 - r))) >>> 0;

/** Bucket of an encoded vip_key (20 bytes): vip_bucket_of() in bpf/include/hash.h. */
export function vipBucketOf(key: Buffer): number {
  const w = [0, 1, 2, 3, 4].map((i) => key.readUInt32LE(i * 4));
  let x = (w[0]! ^ rotl(w[1]!, 8) ^ rotl(w[2]!, 16) ^ rotl(w[3]!, 24)) >>> 0;
  x = (Math.imul(x, 0x9e3779b1) ^ w[4]!) >>> 0;
  x = Math.imul(x, 0x85ebca6b) >>> 0;
  return x >>> (32 - VIP_BUCKET_BITS);
}

/** Every bucket value (BUCKETS x struct vip_bucket) for these vips entries (encoded key, encoded vip_meta). */
export function bucketValues(entries: Iterable<readonly [Buffer, Buffer]>): Buffer {
  const out = Buffer.alloc(BUCKETS * Size.vipBucket);
  const keys = Size.vipKey;
  for (const [key, meta] of entries) {
    const at = vipBucketOf(key) * Size.vipBucket;
    const state = out.readUInt32LE(at + keys + Size.vipMeta);
    if (state === VipBucketState.empty) {
      key.copy(out, at);
      meta.copy(out, at + keys);
      out.writeUInt32LE(VipBucketState.one, at + keys + Size.vipMeta);
    } else if (state === VipBucketState.one) {
      out.fill(0, at, at + Size.vipBucket);
      out.writeUInt32LE(VipBucketState.many, at + keys + Size.vipMeta);
    }
  }
  return out;
}

/** Rewrites every bucket from the current `vips`, leaving out `without` (keys about to be deleted). */
export function syncVipBuckets(vips: BpfMap, buckets: BpfMap, without: readonly Buffer[] = []): void {
  const gone = new Set(without.map((k) => k.toString('hex')));
  const entries = [...vips.entries()].filter(([k]) => !gone.has(k.toString('hex')));
  const keys = Buffer.concat(Array.from({ length: BUCKETS }, (_, i) => u32(i)));
  buckets.updateBatch(keys, bucketValues(entries), BUCKETS);
}
